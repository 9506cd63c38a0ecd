package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// parseTLSVersion reads --min-tls-version in rclone's spelling (tls1.2),
// also taking 1.2.
func parseTLSVersion(s string) (uint16, error) {
	switch strings.TrimPrefix(strings.ToLower(s), "tls") {
	case "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2", "":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--min-tls-version %q: want tls1.0, tls1.1, tls1.2 or tls1.3", s)
}

// newTLSConfig is the server's TLS setup: the certificate is read again
// when its files change (rest-server#94: renewals without a restart),
// --client-ca asks every client for a certificate signed by one of its
// CAs, --min-tls-version bounds the protocol.
func newTLSConfig(cfg *config, log *slog.Logger) (*tls.Config, *certReloader, error) {
	minVersion, err := parseTLSVersion(cfg.minTLSVersion)
	if err != nil {
		return nil, nil, err
	}
	cr := &certReloader{certFile: cfg.tlsCert, keyFile: cfg.tlsKey, log: log}
	// Load once now so that a bad certificate fails the start, not the
	// first request.
	if err := cr.load(); err != nil {
		return nil, nil, err
	}
	tc := &tls.Config{
		MinVersion:     minVersion,
		GetCertificate: cr.get,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if cfg.clientCA != "" {
		pem, err := os.ReadFile(cfg.clientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("--client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--client-ca %s: no PEM certificate in it", cfg.clientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, cr, nil
}

// certReloadEvery bounds how often a handshake looks at the files.
const certReloadEvery = time.Second

// certReloader serves the certificate in certFile/keyFile, reloaded when
// either file's size or time changes. A failed reload (a renewal caught
// half written) keeps the last good certificate and is logged.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // sizes and times of both files at the last load
	checked time.Time
}

func fileStamp(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("TLS certificate: %w", err)
		}
		fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func (cr *certReloader) load() error {
	stamp, err := fileStamp(cr.certFile, cr.keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(cr.certFile, cr.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	cr.cert, cr.stamp = &cert, stamp
	return nil
}

// reload loads the files now (SIGHUP); on failure the previous
// certificate stays.
func (cr *certReloader) reload() error {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.load()
}

func (cr *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if time.Since(cr.checked) >= certReloadEvery {
		cr.checked = time.Now()
		if stamp, err := fileStamp(cr.certFile, cr.keyFile); err == nil && stamp != cr.stamp {
			if err := cr.load(); err != nil {
				cr.log.Warn("TLS certificate changed but does not load: serving the previous one", "err", err)
			} else {
				cr.log.Info("TLS certificate reloaded", "cert", cr.certFile)
			}
		}
	}
	return cr.cert, nil
}

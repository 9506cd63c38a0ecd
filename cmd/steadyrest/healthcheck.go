package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck is for container HEALTHCHECKs, where there is no curl. It
// reads the server's own STEADYREST_* settings, so that it asks where the
// server listens, over TLS when the server speaks it, under --baseurl:
// the check keeps working when the listen address or TLS changes. --url
// overrides all that.
func healthcheck(args []string, stderr io.Writer) int {
	url := ""
	if len(args) == 2 && args[0] == "--url" {
		url = args[1]
	} else if len(args) == 1 && strings.HasPrefix(args[0], "--url=") {
		url = strings.TrimPrefix(args[0], "--url=")
	} else if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: steadyrest healthcheck [--url URL]")
		return 2
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if url == "" {
		cfg, err := parseFlags(nil, io.Discard)
		if err != nil {
			fmt.Fprintf(stderr, "healthcheck: the server's settings: %v\n", err)
			return 2
		}
		if url, err = healthURL(cfg, client); err != nil {
			fmt.Fprintf(stderr, "healthcheck: %v\n", err)
			return 2
		}
	}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}

// healthURL is /healthz on the server's first listen address, reached
// through loopback when it listens on every interface; it sets client up
// for a unix socket or TLS.
func healthURL(cfg *config, client *http.Client) (string, error) {
	addr := cfg.listens[0]
	tr := &http.Transport{}
	client.Transport = tr
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
		// The certificate names the public host, not 127.0.0.1; this asks
		// the process on this machine whether it is alive, and sends no
		// credentials. With --client-ca the server's own certificate goes
		// along, which works where one CA signs both.
		tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see above
		if cfg.clientCA != "" {
			kp, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
			if err != nil {
				return "", fmt.Errorf("load TLS certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		tr.TLSClientConfig = tc
	}
	switch {
	case addr == listenSystemd:
		return "", fmt.Errorf("with --listen %s the address is systemd's: give --url", listenSystemd)
	case strings.HasPrefix(addr, "unix:"):
		path := strings.TrimPrefix(addr, "unix:")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		addr = "localhost"
	default:
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", fmt.Errorf("listen address %q: %w", addr, err)
		}
		switch ip := net.ParseIP(host); {
		case host == "", ip != nil && ip.Equal(net.IPv4zero):
			host = "127.0.0.1"
		case ip != nil && ip.Equal(net.IPv6unspecified):
			host = "::1"
		}
		addr = net.JoinHostPort(host, port)
	}
	return scheme + "://" + addr + cfg.baseURL + "/healthz", nil
}

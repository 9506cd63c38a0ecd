// Package pcloudemu emulates the parts of pCloud's HTTP JSON API that
// rclone's pcloud backend uses, with knobs for pCloud's eventual consistency
// (listing lag, deletes refused for fresh files) and for transient errors.
// It is a test fixture: in-memory, loopback only, safe for concurrent use.
package pcloudemu

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure the emulator. The zero value is a well-behaved,
// strongly consistent pCloud.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// AccessToken the API accepts as "Authorization: Bearer <token>" or
	// access_token/auth parameter; default "pcloudemu-token".
	AccessToken string

	// ListLag: a newly created file is missing from listfolder for this
	// long, and a deleted file stays listed for this long.
	ListLag time.Duration
	// FreshDeleteFails: deletefile answers 2009 (file not found) for a file
	// written less than FreshWindow ago, and leaves the file in place.
	FreshDeleteFails bool
	// FreshLinkFails: getfilelink answers 2009 for a fresh file.
	FreshLinkFails bool
	// FreshWindow is the age below which a file counts as fresh. Zero means
	// ListLag if that is set, else 2s.
	FreshWindow time.Duration
	// ErrorRate in [0,1]: the share of API calls answered with 5000
	// (internal error) or 4000 (rate limit) instead of being carried out.
	ErrorRate float64
	// Latency added before every answer (API and downloads).
	Latency time.Duration
	// Seed for the error injection; 0 picks one from the clock.
	Seed uint64

	// Quota in bytes reported by userinfo and enforced by uploads; default 10 GiB.
	Quota int64
	// LinkTTL is how long a getfilelink URL stays valid; default 1h.
	LinkTTL time.Duration
	// Region decides which checksums checksumfile and uploadfile report:
	// RegionUS (default) md5+sha1, RegionEU sha1+sha256, as pCloud does.
	Region Region

	// Logger for request logs (Debug) and injected faults (Info); default discards.
	Logger *slog.Logger
}

// Stats counts what the emulator did, for tests that check a knob fired.
type Stats struct {
	Calls               map[string]int64 // per API method and "download"
	InjectedErrors      int64
	FreshDeleteRefusals int64
	FreshLinkRefusals   int64
}

// Server is a running emulator.
type Server struct {
	ln        net.Listener
	httpSrv   *http.Server
	dir       string
	caPEM     []byte
	caFile    string
	token     string // fixed at New; SetOptions cannot change it
	done      chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	opt       Options
	rng       *rand.Rand
	root      *node
	folders   map[int64]*node
	files     map[int64]*node
	nextDir   int64
	nextFile  int64
	usedBytes int64
	links     map[string]*link
	stats     Stats

	diffs    []diffEvent
	lastDiff int64
	diffWake chan struct{} // closed and replaced on every event
	closing  chan struct{} // closed by Close, ends blocked /diff calls
}

type link struct {
	data        []byte
	name        string
	contentType string
	modified    time.Time
	expires     time.Time
}

// New starts an emulator serving HTTPS on opt.Addr (127.0.0.1:0 by default)
// with a freshly generated CA.
func New(opt Options) (*Server, error) {
	opt = withDefaults(opt)
	if err := validRegion(opt.Region); err != nil {
		return nil, err
	}
	caPEM, cert, err := newCertificates()
	if err != nil {
		return nil, fmt.Errorf("pcloudemu: %w", err)
	}
	dir, err := os.MkdirTemp("", "pcloudemu-")
	if err != nil {
		return nil, fmt.Errorf("pcloudemu: temp dir: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pcloudemu: write CA file: %w", err)
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pcloudemu: listen on %s: %w", opt.Addr, err)
	}
	now := time.Now()
	s := &Server{
		ln:       ln,
		dir:      dir,
		caPEM:    caPEM,
		caFile:   caFile,
		token:    opt.AccessToken,
		done:     make(chan struct{}),
		opt:      opt,
		rng:      newRand(opt.Seed),
		folders:  map[int64]*node{},
		files:    map[int64]*node{},
		nextDir:  1,
		nextFile: 1_000_001, // distinct from folder ids so a mixed-up id fails
		links:    map[string]*link{},
		stats:    Stats{Calls: map[string]int64{}},
		diffWake: make(chan struct{}),
		closing:  make(chan struct{}),
	}
	s.root = newFolder(0, "/", nil, now)
	s.folders[0] = s.root
	s.httpSrv = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(opt.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		err := s.httpSrv.ServeTLS(ln, "", "")
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			opt.Logger.Error("pcloudemu: serve", "err", err)
		}
	}()
	return s, nil
}

func withDefaults(opt Options) Options {
	if opt.Addr == "" {
		opt.Addr = "127.0.0.1:0"
	}
	if opt.AccessToken == "" {
		opt.AccessToken = "pcloudemu-token"
	}
	if opt.Quota == 0 {
		opt.Quota = 10 << 30
	}
	if opt.LinkTTL == 0 {
		opt.LinkTTL = time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return opt
}

func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// SetOptions changes the knobs of a running emulator (ListLag, Fresh*,
// ErrorRate, Latency, Seed, Quota, LinkTTL, Region, Logger); stored files
// stay. An unknown Region is kept as it was.
// Addr and AccessToken cannot change. Lags already applied to existing
// files are kept.
func (s *Server) SetOptions(opt Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	opt.Addr, opt.AccessToken = s.opt.Addr, s.opt.AccessToken
	opt = withDefaults(opt)
	if validRegion(opt.Region) != nil {
		opt.Region = s.opt.Region
	}
	if opt.Seed != s.opt.Seed {
		s.rng = newRand(opt.Seed)
	}
	s.opt = opt
}

// Options returns the knobs in effect.
func (s *Server) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opt
}

// URL is the API root, e.g. https://127.0.0.1:PORT.
func (s *Server) URL() string { return "https://" + s.Hostname() }

// Hostname is host:port, the value for the pcloud backend's hostname option.
func (s *Server) Hostname() string { return s.ln.Addr().String() }

// CACertPEM is the PEM of the CA that signed the server certificate.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CAFile is the path of a PEM file holding the CA; removed by Close.
func (s *Server) CAFile() string { return s.caFile }

// AccessToken is the bearer token the API accepts.
func (s *Server) AccessToken() string { return s.token }

// Close stops serving at once (open connections are cut: a graceful
// shutdown waits a second for clients' idle HTTP/2 connections, too slow for
// a fixture created per test) and removes the CA file.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	err := s.httpSrv.Close()
	<-s.done
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	if err != nil {
		return fmt.Errorf("pcloudemu: close: %w", err)
	}
	return nil
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Calls = make(map[string]int64, len(s.stats.Calls))
	for k, v := range s.stats.Calls {
		st.Calls[k] = v
	}
	return st
}

// FileInfo is the ground truth about a stored file, bypassing every lag.
type FileInfo struct {
	ID       int64
	Size     int64
	SHA1     string
	MD5      string
	SHA256   string
	Modified time.Time
}

// Stat looks a file up by absolute path ("/repo/keys/abc") in the true
// state, ignoring ListLag; tests use it to check what really is stored.
func (s *Server) Stat(path string) (FileInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lookupPath(path)
	if err != nil || n.isFolder {
		return FileInfo{}, false
	}
	return FileInfo{ID: n.id, Size: int64(len(n.data)), SHA1: n.sha1, MD5: n.md5, SHA256: n.sha256, Modified: n.modified}, true
}

// freshWindow resolves the FreshWindow default; s.mu held.
func (s *Server) freshWindow() time.Duration {
	switch {
	case s.opt.FreshWindow > 0:
		return s.opt.FreshWindow
	case s.opt.ListLag > 0:
		return s.opt.ListLag
	default:
		return 2 * time.Second
	}
}

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// withAccessLog wraps h with rest-server's --log: one line per request in
// the combined log format, to a file (reopened on SIGHUP, for logrotate)
// or to standard output with "-". Without --log it returns h.
func withAccessLog(cfg *config, h http.Handler, reload *reloaders) (http.Handler, func(), error) {
	if cfg.accessLog == "" {
		return h, func() {}, nil
	}
	al := &accessLog{path: cfg.accessLog}
	if err := al.open(); err != nil {
		return nil, nil, err
	}
	if al.path != "-" {
		reload.add("access log "+al.path, al.open)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rw, r)
		al.write(r, start, rw.status, rw.size)
	}), al.close, nil
}

// accessLog is the --log destination.
type accessLog struct {
	path string
	mu   sync.Mutex
	w    io.Writer
	f    *os.File
}

func (a *accessLog) open() error {
	if a.path == "-" {
		a.w = os.Stdout
		return nil
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	a.mu.Lock()
	old := a.f
	a.f, a.w = f, f
	a.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

func (a *accessLog) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f != nil {
		_ = a.f.Close()
	}
}

func (a *accessLog) write(r *http.Request, start time.Time, status int, size int64) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	user := "-"
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		user = strings.ReplaceAll(u, " ", "_")
	}
	line := fmt.Sprintf("%s - %s [%s] %q %d %d %q %q\n", host, user, start.Format("02/Jan/2006:15:04:05 -0700"),
		r.Method+" "+r.URL.RequestURI()+" "+r.Proto, status, size, r.Referer(), r.UserAgent())
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = io.WriteString(a.w, line)
}

// statusWriter records the status and the bytes of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.size += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

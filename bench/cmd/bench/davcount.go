package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/webdav"
)

// davServer serves a folder over WebDAV (golang.org/x/net/webdav) on
// 127.0.0.1, after a fixed delay per request (a far cloud), and counts
// every request and the bytes of every answer, by HTTP method: the remote's
// own view of what a server cost it, whatever the server counts itself.
type davServer struct {
	srv     *http.Server
	ln      net.Listener
	h       http.Handler
	latency time.Duration

	mu    sync.Mutex
	reqs  map[string]float64
	bytes map[string]float64
}

func startDAV(root string, latency time.Duration) (*davServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webdav listen: %w", err)
	}
	d := &davServer{ln: ln, latency: latency, reqs: map[string]float64{}, bytes: map[string]float64{},
		h: &webdav.Handler{FileSystem: webdav.Dir(root), LockSystem: webdav.NewMemLS()}}
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("warning: webdav server: %v", err)
		}
	}()
	return d, nil
}

// remote is the rclone connection string of the server's root.
func (d *davServer) remote() string {
	return fmt.Sprintf(":webdav,url='http://%s/',vendor=other:", d.ln.Addr())
}

func (d *davServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.reqs[r.Method]++
	d.mu.Unlock()
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	cw := &countingWriter{ResponseWriter: w}
	d.h.ServeHTTP(cw, r)
	d.mu.Lock()
	d.bytes[r.Method] += float64(cw.n)
	d.mu.Unlock()
}

// counts returns the requests so far (total and by method) and the bytes
// answered by method.
func (d *davServer) counts() (float64, map[string]float64, map[string]float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	reqs, bytes := map[string]float64{}, map[string]float64{}
	var total float64
	for k, v := range d.reqs {
		reqs[k] = v
		total += v
	}
	for k, v := range d.bytes {
		bytes[k] = v
	}
	return total, reqs, bytes
}

// calls is counts as a callCounter.
func (d *davServer) calls() (float64, map[string]float64, error) {
	total, reqs, _ := d.counts()
	return total, reqs, nil
}

// listedBytes is the bytes of PROPFIND answers so far: what listings and
// lookups by name cost in transfer.
func (d *davServer) listedBytes() float64 {
	_, _, bytes := d.counts()
	return bytes["PROPFIND"]
}

func (d *davServer) close() error {
	if err := d.srv.Close(); err != nil {
		return fmt.Errorf("close webdav server: %w", err)
	}
	return nil
}

// countingWriter counts the body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

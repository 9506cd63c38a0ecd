package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
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
	// propfind counts PROPFIND by what it asks for: "data/xx d1" is a
	// listing of one pack folder, "locks/file d0" a lookup by name.
	propfind map[string]float64
}

func startDAV(root string, latency time.Duration) (*davServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webdav listen: %w", err)
	}
	d := &davServer{ln: ln, latency: latency, reqs: map[string]float64{}, bytes: map[string]float64{}, propfind: map[string]float64{},
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
	if r.Method == "PROPFIND" {
		d.propfind[davTarget(r.URL.Path)+" d"+r.Header.Get("Depth")]++
	}
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

// calls is counts as a callCounter; the PROPFINDs by target are in the
// map too ("PROPFIND data/xx d1"), for the breakdown, not the total.
func (d *davServer) calls() (float64, map[string]float64, error) {
	total, reqs, _ := d.counts()
	d.mu.Lock()
	for k, v := range d.propfind {
		reqs["PROPFIND "+k] = v
	}
	d.mu.Unlock()
	return total, reqs, nil
}

// davTarget names what a PROPFIND of path asks about, relative to the
// repository /repo: a folder ("locks", "data/xx") or a file in one
// ("locks/file", "data/xx/file", "config").
func davTarget(path string) string {
	rel, ok := strings.CutPrefix(strings.TrimSuffix(path, "/"), "/repo")
	switch {
	case !ok || rel != "" && !strings.HasPrefix(rel, "/"):
		return "above the repository"
	case rel == "":
		return "repository"
	}
	parts := strings.Split(strings.TrimPrefix(rel, "/"), "/")
	switch {
	case len(parts) == 1:
		return parts[0]
	case parts[0] == "data" && len(parts) == 2 && len(parts[1]) == 2:
		return "data/xx"
	case parts[0] == "data":
		return "data/xx/file"
	}
	return parts[0] + "/file"
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

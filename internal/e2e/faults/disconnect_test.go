package faults

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/rclone/rclone/backend/local"
	"github.com/rclone/rclone/fs"

	_ "github.com/steadyrest/steadyrest/internal/lagfs"
	"github.com/steadyrest/steadyrest/internal/testutil"
	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/proxy"
)

// inProcess serves the proxy over a store on a lagging local folder, on a
// real loopback listener.
func inProcess(t *testing.T, opts string) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	f, err := fs.NewFs(context.Background(), testutil.LagSpec(dir, opts))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := overlay.New(f, overlay.Options{StateDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := proxy.New(st, proxy.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = st.Close()
	})
	return ln.Addr().String(), dir
}

func openFDs(t *testing.T) int {
	t.Helper()
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

func blob(rng *rand.Rand, n int) ([]byte, string) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// Clients that hang up in the middle of uploads and downloads leave no
// object under a final name and no goroutine or file descriptor behind.
func TestClientDisconnects(t *testing.T) {
	addr, dir := inProcess(t, "latency=1ms")
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(method, path string, body io.Reader) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := do("POST", "/repo/?create=true", nil); r.StatusCode != 200 {
		t.Fatalf("create: %d", r.StatusCode)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	big, bigID := blob(rng, 4<<20)
	r := do("POST", "/repo/data/"+bigID, strings.NewReader(string(big)))
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("upload: %d", r.StatusCode)
	}
	client.CloseIdleConnections()

	// Baseline after the server, the store and one request are warm.
	time.Sleep(200 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	const rounds = 60
	var aborted []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range rounds {
		wg.Add(1)
		sem <- struct{}{}
		data, id := blob(rand.New(rand.NewPCG(uint64(i), 9)), 256<<10+i*1000)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if i%2 == 0 {
				// Upload: headers and part of the body, then hang up.
				fmt.Fprintf(c, "POST /repo/data/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", id, len(data))
				_, _ = c.Write(data[:len(data)/3+i])
				mu.Lock()
				aborted = append(aborted, id)
				mu.Unlock()
				return
			}
			// Download: read some of a 4 MiB object (whole or a range), then
			// hang up.
			rangeHdr := ""
			if i%4 == 1 {
				rangeHdr = fmt.Sprintf("Range: bytes=%d-\r\n", i*1000)
			}
			fmt.Fprintf(c, "GET /repo/data/%s HTTP/1.1\r\nHost: x\r\n%s\r\n", bigID, rangeHdr)
			br := bufio.NewReader(c)
			if _, err := io.CopyN(io.Discard, br, 64<<10); err != nil {
				t.Errorf("download: %v", err)
			}
		}()
	}
	wg.Wait()

	var g, fd int
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if (g <= baseG+2 && fd <= baseFD+1) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d aborted uploads and downloads: goroutines %d -> %d, fds %d -> %d", rounds, baseG, g, baseFD, fd)
	if g > baseG+2 || fd > baseFD+1 {
		buf := make([]byte, 1<<20)
		t.Fatalf("leak after %d client disconnects: goroutines %d -> %d, fds %d -> %d\n%s",
			rounds, baseG, g, baseFD, fd, buf[:runtime.Stack(buf, true)])
	}
	for _, id := range aborted {
		if _, err := os.Stat(filepath.Join(dir, "repo", "data", id[:2], id)); !os.IsNotExist(err) {
			t.Errorf("aborted upload %s exists on disk (stat: %v)", id, err)
		}
		r := do("HEAD", "/repo/data/"+id, nil)
		r.Body.Close()
		if r.StatusCode != 404 {
			t.Errorf("aborted upload %s: HEAD %d, want 404", id, r.StatusCode)
		}
	}
	if n := scanRepo(t, filepath.Join(dir, "repo")); n != 1 {
		t.Errorf("%d objects on disk, want only the one complete upload", n)
	}
	// The server still works.
	r = do("GET", "/repo/data/"+bigID, nil)
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || string(got) != string(big) {
		t.Fatalf("GET after the disconnects: %d, %d bytes", r.StatusCode, len(got))
	}
}

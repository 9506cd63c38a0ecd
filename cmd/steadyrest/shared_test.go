package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/redistest"
)

// --shared wires the shared overlay: /readyz is ready with Redis up and
// 503 with the reason while it is down, the metrics show the shared
// store, and the status page says where the records live.
func TestRunWithSharedOverlay(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	dir := t.TempDir()
	addr := startRun(t, "--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--no-request-log", "--shared", srv.URL())
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with Redis up: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get("/metrics")
		if strings.Contains(body, "steadyrest_shared_overlay_leader 1") && strings.Contains(body, "steadyrest_shared_overlay_operations_total") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack the shared overlay's leader and operations:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, body := get("/status"); !strings.Contains(body, "shared in Redis") {
		t.Errorf("status page does not say the overlay is shared")
	}

	srv.Stop()
	deadline = time.Now().Add(20 * time.Second) // past /readyz's 5 s cache
	for {
		code, body := get("/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "shared overlay") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with Redis down: %d %q, want 503 naming the shared overlay", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	srv.Restart()
	deadline = time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after Redis returned")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestSharedURLIsChecked(t *testing.T) {
	for _, ok := range []string{"", "redis://127.0.0.1:6379/0", "rediss://u:p@h:6380/1", "unix:///run/redis.sock"} {
		if err := checkSharedURL(ok); err != nil {
			t.Errorf("checkSharedURL(%q): %v", ok, err)
		}
	}
	err := checkSharedURL("http://user:secret@h/")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("checkSharedURL of an http URL: %v (want an error that hides the password)", err)
	}
}

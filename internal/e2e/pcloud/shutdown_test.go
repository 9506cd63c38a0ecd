package pcloud

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// TestSigtermDuringRejectedUpload: a SIGTERM that arrives while a pack
// upload is in flight, whose body then turns out not to match its name,
// gets the client a 400 and steadyrest out within the harness's stop
// timeout (5 s), although rclone's pcloud backend spends 5 s after a
// failed upload looking for a partial file to delete. Nothing is left
// under the rejected name, a complete pack uploaded earlier stays, and
// no delete reaches the emulator (the handle of a failed pcloud upload has
// no file id; removing it sent deletefile?fileid=).
func TestSigtermDuringRejectedUpload(t *testing.T) {
	t.Parallel()
	emu := e2e.StartEmulator(t, pcloudemu.Options{
		ListLag:          2 * time.Second,
		FreshDeleteFails: true,
		Latency:          2 * time.Millisecond,
	})
	// No heartbeats: their removal at the stop is a deletefile call of
	// its own, and the test counts those of the rejected upload.
	srv := startSteadyrest(t, emu, "shut", false, "--heartbeat-interval", "0")
	base := "http://" + srv.Addr + "/repo/"
	if code := post(t, base+"?create=true", nil, 0); code != http.StatusOK {
		t.Fatalf("create repository: %d", code)
	}

	// Above the content cache's 1 MiB, so both go the streaming path.
	const size = 3 << 20
	good := randomBytes(t, size)
	goodName := sha256Hex(good)
	if code := post(t, base+"data/"+goodName, bytes.NewReader(good), size); code != http.StatusOK {
		t.Fatalf("upload a good pack: %d", code)
	}

	badName := sha256Hex(randomBytes(t, 32)) // a body that will not match it
	pr, pw := io.Pipe()
	answer := make(chan int, 1)
	go func() { answer <- post(t, base+"data/"+badName, pr, size) }()
	bad := randomBytes(t, size)
	if _, err := pw.Write(bad[:size-4096]); err != nil {
		t.Fatalf("send most of the body: %v", err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()
	for i := 0; !strings.Contains(srv.Log(), "shutting down"); i++ {
		if i == 200 {
			t.Fatalf("steadyrest did not start shutting down within 10 s of SIGTERM\n%s", srv.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := pw.Write(bad[size-4096:]); err != nil {
		t.Fatalf("send the end of the body: %v", err)
	}
	pw.Close()

	if code := <-answer; code != http.StatusBadRequest {
		t.Errorf("rejected upload during shutdown answered %d, want 400", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop during a rejected upload: %v", err)
	}

	if fi, ok := emu.Stat(objectPath("shut/repo", badName)); ok {
		t.Errorf("the rejected upload left %d bytes under its final name", fi.Size)
	}
	if fi, ok := emu.Stat(objectPath("shut/repo", goodName)); !ok || fi.Size != size {
		t.Errorf("the earlier pack is gone or changed: found %v, size %d", ok, fi.Size)
	}
	if n := emu.Stats().Calls["deletefile"]; n != 0 {
		t.Errorf("%d deletefile calls reached the emulator; nothing was to be deleted", n)
	}
}

// post sends body (size bytes, or none) and returns the status, or -1
// when the request fails.
func post(t *testing.T, url string, body io.Reader, size int64) int {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Errorf("request %s: %v", url, err)
		return -1
	}
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("POST %s: %v", url, err)
		return -1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random bytes: %v", err)
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// objectPath is where restic's layout puts a data object on the emulator.
func objectPath(repo, name string) string {
	return fmt.Sprintf("/%s/data/%s/%s", repo, name[:2], name)
}

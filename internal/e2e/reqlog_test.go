package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// logLine is one request log line in steadyrest's format, answered at
// second sec (with milliseconds) after a duration of ms milliseconds.
func logLine(sec float64, method, path string, status, ms int) string {
	return fmt.Sprintf("time=2026-01-02T03:04:%06.3fZ level=INFO msg=request method=%s path=%s status=%d bytes_in=0 bytes_out=0 duration=%dms remote=127.0.0.1:5 user=\"\"",
		sec, method, path, status, ms)
}

var (
	lockA = "locks/" + strings.Repeat("a", 64)
	lockB = "locks/" + strings.Repeat("b", 64)
)

func TestRequestLogChecks(t *testing.T) {
	one := strings.Join([]string{
		logLine(1.0, "POST", "/r/"+lockA, 200, 10),
		logLine(1.5, "HEAD", "/r/"+lockA, 404, 5), // read after the write: violation
		logLine(2.0, "DELETE", "/r/"+lockA, 200, 10),
		logLine(2.5, "GET", "/r/"+lockA, 200, 5), // read after the delete: violation
		logLine(2.6, "HEAD", "/other/"+lockA, 200, 5),
		"time=2026-01-02T03:04:02.700Z level=INFO msg=\"steadyrest serving\"",
	}, "\n")
	two := strings.Join([]string{
		logLine(1.0, "DELETE", "/r/"+lockB, 200, 10),
		logLine(1.2, "POST", "/r/"+lockB, 200, 10), // written again
		logLine(1.4, "HEAD", "/r/"+lockB, 200, 5),  // fine: rewritten
		logLine(1.45, "GET", "/r/"+lockA, 200, 5),  // fine: before the delete
	}, "\n")
	reqs, err := MergeRequests(map[string]string{"one": one, "two": two}, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs[lockA]) != 5 || len(reqs[lockB]) != 3 || len(reqs) != 2 {
		t.Fatalf("parsed %d requests on A, %d on B, %d objects; want 5, 3, 2: %v", len(reqs[lockA]), len(reqs[lockB]), len(reqs), reqs)
	}
	ryw := ReadYourWritesViolations(reqs)
	if len(ryw) != 1 || !strings.Contains(ryw[0], "HEAD 404") || !strings.Contains(ryw[0], "through one") {
		t.Errorf("read-your-writes violations %q, want the one HEAD 404 through one", ryw)
	}
	ds := DeletesStickViolations(reqs)
	if len(ds) != 1 || !strings.Contains(ds[0], "GET 200 at 03:04:02.501") {
		t.Errorf("deletes-stick violations %q, want the one GET 200 after the delete", ds)
	}
	if _, err := ObjectRequests(logLine(1, "GET", "/r/"+lockA, 200, 5)+" \n"+strings.Replace(logLine(1, "GET", "/r/"+lockA, 200, 5), "duration=5ms", "duration=x", 1), "r"); err == nil {
		t.Error("a line with a bad duration parsed without error")
	}
}

package main

import (
	"strings"
	"testing"
)

func feed(t *testing.T, lines ...string) (*summary, string, bool) {
	t.Helper()
	var out strings.Builder
	s := &summary{out: &out, buf: map[testKey]*strings.Builder{}, why: map[string][]string{}, elapsed: map[testKey]float64{}}
	for _, l := range lines {
		s.line([]byte(l))
	}
	ok := s.report()
	return s, out.String(), ok
}

func TestSummaryCountsAndSkips(t *testing.T) {
	s, out, ok := feed(t,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":1.5}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: RESTIC not set\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Output":"ok  \tp\t1.6s\n"}`,
		`{"Action":"pass","Package":"p"}`,
	)
	if !ok || s.pass != 1 || len(s.skipped) != 1 || s.pkgOK != 1 {
		t.Fatalf("ok=%v pass=%d skipped=%v pkgOK=%d\n%s", ok, s.pass, s.skipped, s.pkgOK, out)
	}
	for _, want := range []string{"1 passed, 0 failed, 1 skipped", "b_test.go:3: RESTIC not set", "SKIPPED (not counted as passed)", "RESULT: PASS", "ok  \tp\t1.6s"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestSummaryFailureShowsOutput(t *testing.T) {
	_, out, ok := feed(t,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestC","Elapsed":0.1}`,
		`{"Action":"fail","Package":"p"}`,
		`# q`,
		`{"Action":"fail","Package":"q","FailedBuild":"q"}`,
	)
	if ok {
		t.Fatalf("failures reported as success:\n%s", out)
	}
	for _, want := range []string{"c_test.go:9: boom", "FAILED test: p TestC", "FAILED package: q (build failed: q)", "# q", "RESULT: FAIL"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// The summary repeats a failed test's own messages after its name, not the
// server log the test copied after them.
func TestSummaryRepeatsFailureMessages(t *testing.T) {
	_, out, _ := feed(t,
		`{"Action":"output","Package":"p","Test":"TestD","Output":"    d_test.go:40: history is not linearizable: Illegal\n"}`,
		`{"Action":"output","Package":"p","Test":"TestD","Output":"    server.go:274: ---- srv log ----\n"}`,
		`{"Action":"output","Package":"p","Test":"TestD","Output":"        time=... level=INFO msg=request\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestD","Elapsed":0.1}`,
		`{"Action":"fail","Package":"p"}`,
	)
	_, tail, ok := strings.Cut(out, "FAILED test: p TestD\n")
	if !ok {
		t.Fatalf("no FAILED line:\n%s", out)
	}
	if !strings.HasPrefix(tail, "    d_test.go:40: history is not linearizable: Illegal\n") {
		t.Errorf("the failed test's message does not follow its name:\n%s", out)
	}
	if strings.Contains(tail, "msg=request") || strings.Contains(tail, "server.go") {
		t.Errorf("the summary repeats the copied server log:\n%s", out)
	}
}

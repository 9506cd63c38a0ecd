// Command testsummary reads `go test -json` on stdin, prints the package
// result lines and the full output of failing tests as they come, and ends
// with a summary: packages and tests passed, failed and skipped (skips are
// listed with their reason, so a skipped test is never mistaken for a
// pass), the slowest tests, and each failed test with the last lines its
// test file logged (its t.Error and t.Fatal messages, which a long server
// log copied after them would otherwise bury). It exits 1 if anything
// failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
	ImportPath  string
}

type testKey struct{ pkg, test string }

type skip struct{ pkg, test, reason string }

// maxSubtestSkips caps the skipped subtests listed per package.
const maxSubtestSkips = 10

type summary struct {
	out        io.Writer
	buf        map[testKey]*strings.Builder
	pkgOK      int
	pkgFail    []string
	pkgNoTests int
	pass, fail int
	skipped    []skip
	failed     []string
	why        map[string][]string // failed test -> lines its test file logged
	elapsed    map[testKey]float64
}

// maxWhy caps the lines shown per failed test in the summary, and
// maxWhyLen each line.
const (
	maxWhy    = 6
	maxWhyLen = 400
)

// testFileLine matches a line logged from a test file ("    x_test.go:12: ..."),
// as opposed to a helper's output or a server log a test copies.
var testFileLine = regexp.MustCompile(`^\s+[\w.-]+_test\.go:\d+: `)

// reasons returns the last lines of out logged from a test file.
func reasons(out string) []string {
	var why []string
	for _, l := range strings.Split(out, "\n") {
		if !testFileLine.MatchString(l) {
			continue
		}
		l = strings.TrimSpace(l)
		if len(l) > maxWhyLen {
			l = l[:maxWhyLen] + "…"
		}
		why = append(why, l)
	}
	if len(why) > maxWhy {
		why = why[len(why)-maxWhy:]
	}
	return why
}

func main() {
	s := &summary{out: os.Stdout, buf: map[testKey]*strings.Builder{}, why: map[string][]string{}, elapsed: map[testKey]float64{}}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		s.line(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: reading input: %v\n", err)
		os.Exit(1)
	}
	if !s.report() {
		os.Exit(1)
	}
}

func (s *summary) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil {
		// Not an event (e.g. a compiler error on stderr): show it as is.
		fmt.Fprintln(s.out, string(b))
		return
	}
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
	case "output":
		if e.Test == "" {
			if o := strings.TrimSpace(e.Output); o != "PASS" && o != "FAIL" && !strings.HasPrefix(o, "=== ") {
				fmt.Fprint(s.out, e.Output)
			}
			return
		}
		sb := s.buf[k]
		if sb == nil {
			sb = &strings.Builder{}
			s.buf[k] = sb
		}
		sb.WriteString(e.Output)
	case "pass":
		if e.Test == "" {
			s.pkgOK++
			return
		}
		s.pass++
		s.elapsed[k] = e.Elapsed
		delete(s.buf, k)
	case "skip":
		if e.Test == "" {
			s.pkgNoTests++
			return
		}
		s.skipped = append(s.skipped, skip{e.Package, e.Test, skipReason(s.buf[k])})
		delete(s.buf, k)
	case "fail":
		if e.Test == "" {
			name := e.Package
			if e.FailedBuild != "" {
				name += " (build failed: " + e.FailedBuild + ")"
			}
			s.pkgFail = append(s.pkgFail, name)
			return
		}
		s.fail++
		name := e.Package + " " + e.Test
		s.failed = append(s.failed, name)
		fmt.Fprintf(s.out, "==== FAIL %s %s (%.2fs) ====\n", e.Package, e.Test, e.Elapsed)
		if sb := s.buf[k]; sb != nil {
			fmt.Fprint(s.out, sb.String())
			s.why[name] = reasons(sb.String())
		}
		delete(s.buf, k)
	}
}

// skipReason is the text after the "--- SKIP" line of a skipped test.
func skipReason(sb *strings.Builder) string {
	if sb == nil {
		return "(no reason given)"
	}
	var lines []string
	for _, l := range strings.Split(sb.String(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " | ")
}

func (s *summary) report() bool {
	w := s.out
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, "================ test summary ================")
	fmt.Fprintf(w, "packages: %d ok, %d failed, %d without tests\n", s.pkgOK, len(s.pkgFail), s.pkgNoTests)
	fmt.Fprintf(w, "tests (incl. subtests): %d passed, %d failed, %d skipped\n", s.pass, s.fail, len(s.skipped))
	type slow struct {
		k testKey
		d float64
	}
	var top []slow
	for k, d := range s.elapsed {
		if !strings.Contains(k.test, "/") {
			top = append(top, slow{k, d})
		}
	}
	sort.Slice(top, func(i, j int) bool { return top[i].d > top[j].d })
	if len(top) > 8 {
		top = top[:8]
	}
	if len(top) > 0 {
		fmt.Fprintln(w, "slowest tests:")
		for _, t := range top {
			fmt.Fprintf(w, "  %7.2fs  %s %s\n", t.d, t.k.pkg, t.k.test)
		}
	}
	if len(s.skipped) > 0 {
		// Top-level skips are listed in full (a missing tool shows up
		// here); subtest skips, often feature probes of a shared suite, are
		// capped per package.
		fmt.Fprintln(w, "SKIPPED (not counted as passed):")
		perPkg := map[string]int{}
		for _, sk := range s.skipped {
			if !strings.Contains(sk.test, "/") {
				fmt.Fprintf(w, "  %s %s: %s\n", sk.pkg, sk.test, sk.reason)
				continue
			}
			perPkg[sk.pkg]++
			if perPkg[sk.pkg] <= maxSubtestSkips {
				fmt.Fprintf(w, "  %s %s: %s\n", sk.pkg, sk.test, sk.reason)
			}
		}
		for pkg, n := range perPkg {
			if n > maxSubtestSkips {
				fmt.Fprintf(w, "  %s: %d more skipped subtests (see the raw -json output)\n", pkg, n-maxSubtestSkips)
			}
		}
	}
	for _, p := range s.pkgFail {
		fmt.Fprintln(w, "FAILED package: "+p)
	}
	for _, n := range s.failed {
		fmt.Fprintln(w, "FAILED test: "+n)
		for _, l := range s.why[n] {
			fmt.Fprintln(w, "    "+l)
		}
	}
	ok := len(s.pkgFail) == 0 && s.fail == 0
	if ok {
		fmt.Fprintln(w, "RESULT: PASS")
	} else {
		fmt.Fprintln(w, "RESULT: FAIL")
	}
	return ok
}

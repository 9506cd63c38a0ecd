package e2e

import (
	"strings"
	"testing"
)

func TestRaceReportsQuotesEachReport(t *testing.T) {
	log := "INFO serving\n==================\nWARNING: DATA RACE\nWrite at 0x1 by goroutine 7:\n  a.go:1\n==================\nINFO more\n==================\nWARNING: DATA RACE\nRead at 0x2:\n  b.go:2\n==================\nINFO stopped\n"
	got := raceReports(log)
	for _, want := range []string{"a.go:1", "b.go:2", "the race detector's reports"} {
		if !strings.Contains(got, want) {
			t.Errorf("raceReports lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "INFO") {
		t.Errorf("raceReports quotes lines outside the reports:\n%s", got)
	}
	if raceReports("INFO serving\nINFO stopped\n") != "" {
		t.Error("raceReports of a log without a race is not empty")
	}
}

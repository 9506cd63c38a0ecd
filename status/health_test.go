package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/health"
	"github.com/steadyrest/steadyrest/overlay"
)

// TestHealthRowsAndStaleLock shows a repository's health, and a lock its
// restic left behind as stale with the unlock command, once the tracker's
// clock is 30 minutes on.
func TestHealthRowsAndStaleLock(t *testing.T) {
	rec, _ := fixture(t)
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	tr := health.New(func() time.Time { return now }, nil)
	id := func(c string) string { return strings.Repeat(c, 64) }
	tr.Listed("hosts/a", overlay.Snapshots, []overlay.Entry{{Name: id("1")}})
	tr.Stored("hosts/a", overlay.Snapshots, id("2"), 300)
	tr.Listed("hosts/a", overlay.Data, []overlay.Entry{{Name: id("3"), Size: 3 << 20}})
	tr.Stored("hosts/a", overlay.Locks, id("4"), 200)
	h := Handler(rec, Info{Health: tr, BaseURL: "/backup"}, records, nil)

	body := get(t, h, "/status").Body.String()
	for _, want := range []string{`<table id="health">`, "/hosts/a", "2026-12-01 03:00 UTC", "3.0 MiB in 1 pack(s)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "stale lock") {
		t.Fatal("a fresh lock reads as stale")
	}

	now = now.Add(health.StaleAfter)
	body = get(t, h, "/status").Body.String()
	unlock := "restic -r rest:http://example.com/backup/hosts/a/ unlock"
	for _, want := range []string{`class="stale">stale lock since 2026-12-01 03:00 UTC (30m0s)`, "<code>" + unlock + "</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	var snap struct {
		Health []struct {
			StaleLocks int    `json:"stale_locks"`
			Unlock     string `json:"unlock"`
			Snapshots  *int   `json:"snapshots"`
		} `json:"repository_health"`
	}
	if err := json.Unmarshal(get(t, h, "/status?format=json").Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Health) != 1 || snap.Health[0].StaleLocks != 1 || snap.Health[0].Unlock != unlock || *snap.Health[0].Snapshots != 2 {
		t.Fatalf("JSON health: %+v", snap.Health)
	}
}

// TestHealthUnknownIsNotZero: a repository seen but not listed reads "not
// listed yet" and "none seen", not 0 snapshots or 1970.
func TestHealthUnknownIsNotZero(t *testing.T) {
	rec, _ := fixture(t)
	tr := health.New(nil, nil)
	tr.Stored("b", overlay.Data, strings.Repeat("a", 64), 10)
	body := get(t, Handler(rec, Info{Health: tr}, records, nil), "/status").Body.String()
	if !strings.Contains(body, "none seen since the start") || !strings.Contains(body, notListed) || strings.Contains(body, "1970") {
		t.Fatalf("unknown figures misread:\n%s", body)
	}
}

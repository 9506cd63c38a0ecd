package main

import (
	"testing"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

func TestWarningLines(t *testing.T) {
	out := `using temporary cache in /tmp/restic-check-cache-1
create exclusive lock for repository
load indexes
check all packs
check snapshots, trees and blobs
read all data
Load(<data/3f2a1b9c8d>, 0, 0) returned error, retrying after 1.2s: unexpected HTTP response (404): 404 Not Found
Load(<data/3f2a1b9c8d>, 0, 0) failed: <data/3f2a1b9c8d> does not exist
Remove(<lock/8e7d6c5b4a>) returned error, retrying after 720ms: <lock/8e7d6c5b4a> does not exist
Fatal: repository contains errors
no errors were found
`
	all, locks := warningLines(out)
	if all != 4 || locks != 1 {
		t.Errorf("warningLines = %d, %d locks; want 4, 1", all, locks)
	}
	// The pattern is case-sensitive, as restic writes these words.
	if all, _ := warningLines("check successful\nFAILED to frobnicate\n"); all != 0 {
		t.Errorf("warningLines counted %d lines in a clean output", all)
	}
	if all, locks := warningLines(""); all != 0 || locks != 0 {
		t.Errorf("warningLines(\"\") = %d, %d", all, locks)
	}
}

func TestEmuDiff(t *testing.T) {
	before := pcloudemu.Stats{Calls: map[string]int64{"getfilelink": 3, "listfolder": 10}, FreshLinkRefusals: 2}
	after := pcloudemu.Stats{Calls: map[string]int64{"getfilelink": 7, "listfolder": 10, "download": 4}, FreshLinkRefusals: 5}
	d := emuDiff(before, after)
	if d.calls["getfilelink"] != 4 || d.calls["download"] != 4 || d.calls["listfolder"] != 0 || d.total != 8 || d.linkRefusals != 3 {
		t.Errorf("emuDiff = %+v", d)
	}
}

func TestChecked(t *testing.T) {
	full := `using temporary cache in /tmp/x
create exclusive lock for repository
load indexes
check all packs
check snapshots, trees and blobs
[0:00] 100.00%  1 / 1 snapshots
read all data
[0:00] 100.00%  4 / 4 packs
[2:38] 100.00%  4 / 4 packs
no errors were found
`
	empty := `check snapshots, trees and blobs
[0:00]          0 snapshots
read all data
[0:00]          0 packs
no errors were found
`
	partial := "read all data\n[0:05] 50.00%  2 / 4 packs\nFatal: repository contains errors\n"
	for _, c := range []struct {
		name, out       string
		snapshots, pack int
	}{
		{"full", full, 1, 4},
		{"empty repository", empty, 0, 0},
		{"stopped during read", partial, -1, 2},
		{"stopped before", "Fatal: <key/7c1283006e> does not exist\n", -1, -1},
	} {
		if got := checked(snapshotsRE, c.out); got != c.snapshots {
			t.Errorf("%s: snapshots %d, want %d", c.name, got, c.snapshots)
		}
		if got := checked(packsRE, c.out); got != c.pack {
			t.Errorf("%s: packs %d, want %d", c.name, got, c.pack)
		}
	}
}

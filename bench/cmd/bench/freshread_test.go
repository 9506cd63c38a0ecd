package main

import (
	"testing"

	"github.com/steadyrest/steadyrest/pcloudemu"
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

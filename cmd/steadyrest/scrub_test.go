package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/steadyrest/steadyrest/internal/e2e"
	scrube2e "github.com/steadyrest/steadyrest/internal/e2e/scrub"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/scrub"
)

// runScrub runs `steadyrest scrub ARGS…` and returns its exit code.
func runScrub(args []string, stdout, stderr *bytes.Buffer) int {
	return realMain(append([]string{"scrub"}, args...), stdout, stderr)
}

// scrubJSON runs `steadyrest scrub --json` and decodes the report.
func scrubJSON(t *testing.T, wantCode int, args ...string) scrub.Report {
	t.Helper()
	var out, errOut bytes.Buffer
	if rc := runScrub(append([]string{"--json"}, args...), &out, &errOut); rc != wantCode {
		t.Fatalf("scrub %q: exit %d, want %d; stdout:\n%s\nstderr:\n%s", args, rc, wantCode, out.String(), errOut.String())
	}
	var rep struct {
		scrub.Report
		ExitCode int `json:"exit_code"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out.String())
	}
	if rep.ExitCode != wantCode {
		t.Errorf("report says exit_code %d, process exited %d", rep.ExitCode, wantCode)
	}
	return rep.Report
}

// TestScrubCommand drives `steadyrest scrub` (realMain) on a repository
// made by the real restic: clean exits 0; with one pack truncated and one
// corrupted it exits 3 naming exactly those two, on a local folder and on
// the pCloud emulator's EU region (through an rclone.conf remote, without
// a download); the US region has no SHA-256, exit 4, and --read finds the
// two. Usage errors exit 2, a folder without a repository 1.
func TestScrubCommand(t *testing.T) {
	t.Setenv("RCLONE_CONFIG", "/nonexistent/rclone.conf") // keep the user's config out
	var out, errOut bytes.Buffer
	if rc := runScrub(nil, &out, &errOut); rc != scrub.ExitUsage || !strings.Contains(errOut.String(), "scrub takes one remote") {
		t.Errorf("no remote: exit %d, stderr %q", rc, errOut.String())
	}
	errOut.Reset()
	if rc := runScrub([]string{"--no-such-flag", "x"}, &out, &errOut); rc != scrub.ExitUsage {
		t.Errorf("unknown flag: exit %d, stderr %q", rc, errOut.String())
	}
	errOut.Reset()
	if rc := runScrub([]string{t.TempDir()}, &out, &errOut); rc != scrub.ExitFailed || !strings.Contains(errOut.String(), "no restic repository") {
		t.Errorf("folder without a repository: exit %d, stderr %q", rc, errOut.String())
	}

	r := scrube2e.NewRepo(t)
	if rep := scrubJSON(t, scrub.ExitClean, r.Dir); rep.Outcome != scrub.Clean || rep.Objects == 0 {
		t.Errorf("undamaged: %+v", rep)
	}
	r.Damage(t)
	want := r.WantFindings("")

	out.Reset()
	errOut.Reset()
	if rc := runScrub([]string{r.Dir}, &out, &errOut); rc != scrub.ExitDamaged {
		t.Errorf("damaged, text: exit %d; stderr %q", rc, errOut.String())
	}
	t.Logf("text report:\n%s", out.String())
	for _, s := range []string{r.Truncated, r.Corrupted, "outcome: damaged", "restic repair packs"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, out.String())
		}
	}
	if got := scrube2e.Findings(scrubJSON(t, scrub.ExitDamaged, r.Dir).Findings); !slices.Equal(got, want) {
		t.Errorf("local findings %q, want %q", got, want)
	}

	emu := e2e.StartEmulator(t, pcloudemu.Options{Region: pcloudemu.RegionEU})
	r.CopyTo(context.Background(), t, emu.RcloneRemote()+"repo")
	remote := e2e.EmulatorRemote + ":repo"
	before := emu.Stats()
	if got := scrube2e.Findings(scrubJSON(t, scrub.ExitDamaged, "--rclone-config", emu.Conf, remote).Findings); !slices.Equal(got, want) {
		t.Errorf("EU findings %q, want %q", got, want)
	}
	if st := emu.Stats(); st.Calls["download"] != before.Calls["download"] || st.Calls["getfilelink"] != before.Calls["getfilelink"] {
		t.Errorf("the scrub downloaded from the EU region: calls before %v, after %v", before.Calls, st.Calls)
	}

	emu.SetOptions(pcloudemu.Options{Region: pcloudemu.RegionUS})
	us := scrubJSON(t, scrub.ExitUnverified, "--rclone-config", emu.Conf, remote)
	if us.Outcome != scrub.Unverified || us.NoRemoteHash == "" || len(us.Findings) != 0 {
		t.Errorf("US region without --read: %+v", us)
	}
	read := scrubJSON(t, scrub.ExitDamaged, "--rclone-config", emu.Conf, "--read", "--checkers", "2", remote)
	if got := scrube2e.Findings(read.Findings); !slices.Equal(got, want) || read.VerifiedRead != read.Objects-2 {
		t.Errorf("US region with --read: findings %q (want %q), %d of %d verified by reading", got, want, read.VerifiedRead, read.Objects)
	}
}

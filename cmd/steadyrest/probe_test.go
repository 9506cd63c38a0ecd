package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

func TestProbeSubcommand(t *testing.T) {
	t.Setenv("RCLONE_CONFIG", "/nonexistent/rclone.conf") // keep the user's config out
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if rc := realMain([]string{"probe", "--rounds", "1", "--large-size", "0", "--json", dir}, &out, &errOut); rc != 0 {
		t.Fatalf("exit %d, stderr:\n%s", rc, errOut.String())
	}
	var rep struct {
		Rounds         int `json:"rounds"`
		Recommendation struct {
			NeedsSteadyrest bool   `json:"needs_steadyrest"`
			Text            string `json:"text"`
		} `json:"recommendation"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out.String())
	}
	if rep.Rounds != 1 || rep.Recommendation.NeedsSteadyrest {
		t.Errorf("report %+v: want 1 round and no need for steadyrest on a local folder", rep)
	}
	if strings.Contains(errOut.String(), "\r") {
		t.Errorf("progress line written to a non-terminal:\n%q", errOut.String())
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("probe left %v behind (err %v)", entries, err)
	}

	out.Reset()
	errOut.Reset()
	if rc := realMain([]string{"probe"}, &out, &errOut); rc != 2 || !strings.Contains(errOut.String(), "probe takes one remote") {
		t.Errorf("probe without a remote: exit %d, stderr %q", rc, errOut.String())
	}
	errOut.Reset()
	if rc := realMain([]string{"probe", testutil.LagSpec(dir, "deny_ops=put")}, &out, &errOut); rc != 1 || !strings.Contains(errOut.String(), "cannot write to the remote") {
		t.Errorf("unwritable remote: exit %d, stderr %q", rc, errOut.String())
	}
}

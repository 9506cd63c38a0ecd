package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// The attack: a restart while pCloud still hides the last uploads from its
// listings. A quota counted from the remote's listing alone starts short
// of them, and a client fills the remote past --max-size. The same count
// still holds what was deleted just before a restart (pCloud lists it a
// while longer), and refuses a write that fits. The real binary restarts
// three times on the pCloud emulator, with one state dir; from the second
// run on, pCloud's listings are an hour behind.
func TestQuotaSurvivesRestartOnLaggingRemote(t *testing.T) {
	emu := e2e.StartEmulator(t, pcloudemu.Options{})
	bin, state := builtBinary(t), t.TempDir()
	var base string
	run := func(steps func()) {
		t.Helper()
		spec := e2e.SteadyrestSpec(bin, e2e.EmulatorRemote+":", state,
			"--rclone-config", emu.Conf, "--max-size", "1000", "--no-request-log", "--heartbeat-interval", "0")
		srv := e2e.StartServer(t, spec)
		base = "http://" + srv.Addr + "/r/"
		steps()
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	post := func(blob []byte, want int, why string) {
		t.Helper()
		if s := do(t, nil, "POST", base+"data/"+blobName(blob), blob, "", ""); s != want {
			t.Errorf("%s: %d, want %d", why, s, want)
		}
	}
	a, b := bytes.Repeat([]byte("a"), 600), bytes.Repeat([]byte("b"), 300)
	c, d := bytes.Repeat([]byte("c"), 300), bytes.Repeat([]byte("d"), 600)

	run(func() {
		if s := do(t, nil, "POST", base+"?create=true", nil, "", ""); s != 200 {
			t.Fatalf("create: %d", s)
		}
		post(a, 200, "600 bytes under 1000")
	})
	emu.SetOptions(pcloudemu.Options{ListLag: time.Hour})
	run(func() { post(b, 200, "300 bytes on 600") })
	run(func() {
		post(c, http.StatusInsufficientStorage, "after a restart, 300 bytes on the 900 stored, 300 of them not listed yet (1200 of 1000)")
		if s := do(t, nil, "DELETE", base+"data/"+blobName(a), nil, "", ""); s != 200 {
			t.Fatalf("delete: %d", s)
		}
	})
	run(func() {
		post(d, 200, "after a restart, 600 bytes on the 300 left after a delete of 600 that pCloud still lists (900 of 1000)")
	})
	var stored int64
	for _, blob := range [][]byte{a, b, c, d} {
		name := blobName(blob)
		if fi, ok := emu.Stat("/r/data/" + name[:2] + "/" + name); ok {
			stored += fi.Size
		}
	}
	if stored > 1000 {
		t.Errorf("the emulator holds %d bytes of data under a 1000 byte quota", stored)
	}
}

// A first start with --max-size on a remote folder that does not exist
// yet holds nothing: it serves, and the folder is made by the first
// repository.
func TestQuotaOnRemoteNotMadeYet(t *testing.T) {
	dir := t.TempDir()
	addr := startRun(t, "--remote", filepath.Join(dir, "not-made-yet"), "--state-dir", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--no-request-log", "--max-size", "1000")
	u := "http://" + addr + "/r/"
	if s := do(t, nil, "POST", u+"?create=true", nil, "", ""); s != 200 {
		t.Fatalf("create: %d", s)
	}
	a := bytes.Repeat([]byte("a"), 600)
	if s := do(t, nil, "POST", u+"data/"+blobName(a), a, "", ""); s != 200 {
		t.Fatalf("600 bytes under 1000: %d", s)
	}
}

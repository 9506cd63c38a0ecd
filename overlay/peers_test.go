package overlay

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

// localRemote is a plain local-folder remote over a fresh temp folder.
func localRemote(t *testing.T, dir string) fs.Fs {
	t.Helper()
	f, err := fs.NewFs(context.Background(), dir)
	if err != nil {
		t.Fatalf("NewFs(%s): %v", dir, err)
	}
	return f
}

// logRecords keeps what a store logs, for tests that check its messages.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// errors returns the text of every ERROR record whose message holds
// substr, with its attributes.
func (l *logRecords) errors(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level != slog.LevelError || !strings.Contains(r.Message, substr) {
			continue
		}
		line := r.Message
		r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
		out = append(out, line)
	}
	return out
}

// newWatch starts a PeerWatch over f, closed at the test's end.
func newWatch(t *testing.T, f fs.Fs, opt PeerOptions) *PeerWatch {
	t.Helper()
	w, err := NewPeerWatch(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	t.Cleanup(w.Close)
	return w
}

// fixedID is an OverlayID that never changes.
func fixedID(id string) func() string { return func() string { return id } }

const peerWarning = "another steadyrest instance serves this remote path without a shared overlay"

// heartbeatFiles lists the heartbeat objects below root, on disk.
func heartbeatFiles(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, peersDir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// settled waits until s's first heartbeat round, which New starts in the
// background, is over: tests that run rounds themselves then know what
// each round saw.
func settled(t *testing.T, s *PeerWatch, root string) {
	t.Helper()
	testutil.Eventually(t, "the first heartbeat round", 10*time.Second, func() bool {
		return slices.Contains(heartbeatFiles(t, root), s.self.String())
	})
	s.mu.Lock() // held by a round in progress
	s.mu.Unlock()
}

// plantHeartbeat writes a heartbeat of another instance straight to disk,
// last written at mod.
func plantHeartbeat(t *testing.T, root, name string, mod time.Time) {
	t.Helper()
	p := filepath.Join(root, peersDir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// Two default-mode instances on one remote path see each other within one
// period, count each other and log the error naming the other; once one
// stops, its heartbeat is gone and the other's count drops back to 0.
func TestPeerInstancesSeeEachOther(t *testing.T) {
	const period = 400 * time.Millisecond
	slack := time.Second // scheduling on a loaded machine, under -race
	root := t.TempDir()
	logsA, logsB := &logRecords{}, &logRecords{}
	a := newWatch(t, localRemote(t, root), PeerOptions{Interval: period, Logger: slog.New(logsA)})
	b, err := NewPeerWatch(localRemote(t, root), PeerOptions{Interval: period, Logger: slog.New(logsB)})
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	defer b.Close()

	testutil.Eventually(t, "both to count the other", period+slack, func() bool {
		return a.PeerInstances() == 1 && b.PeerInstances() == 1
	})
	pa, pb := a.Peers(), b.Peers()
	if len(pa) != 1 || pa[0].Instance != b.self.instance || pa[0].SharesOverlay || pa[0].Period != period {
		t.Errorf("a sees %+v, want b (%s) not sharing, period %s", pa, b.self.instance, period)
	}
	if len(pb) != 1 || pb[0].Instance != a.self.instance {
		t.Errorf("b sees %+v, want a (%s)", pb, a.self.instance)
	}
	for who, c := range map[string]struct {
		logs  *logRecords
		other *PeerWatch
	}{"a": {logsA, b}, "b": {logsB, a}} {
		errs := c.logs.errors(peerWarning)
		if len(errs) != 1 {
			t.Errorf("%s logged %d peer errors, want 1 (once at first sight, not every round): %q", who, len(errs), errs)
			continue
		}
		if !strings.Contains(errs[0], c.other.self.instance) || !strings.Contains(errs[0], "--shared") ||
			!strings.Contains(errs[0], "peer_instances=1") {
			t.Errorf("%s's error does not name the other instance and the remedy: %s", who, errs[0])
		}
	}
	if got := heartbeatFiles(t, root); len(got) != 2 {
		t.Fatalf("heartbeats on the remote: %q, want 2", got)
	}

	b.Close()
	if got := heartbeatFiles(t, root); len(got) != 1 || got[0] != a.self.String() {
		t.Errorf("after b's Close the remote holds %q, want only a's %s", got, a.self)
	}
	testutil.Eventually(t, "a to stop counting b", period+slack, func() bool { return a.PeerInstances() == 0 })
	a.Close()
	if got := heartbeatFiles(t, root); len(got) != 0 {
		t.Errorf("after both closed the remote holds %q", got)
	}
}

// Instances that share an overlay see each other but do not count each
// other; one with another overlay, or none, is counted by all.
func TestPeerInstancesSharingAnOverlay(t *testing.T) {
	root := t.TempDir()
	open := func(overlay string) *PeerWatch {
		s := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour, OverlayID: fixedID(overlay)})
		settled(t, s, root)
		return s
	}
	a, b := open("redis-one"), open("redis-one")
	round := func(ss ...*PeerWatch) {
		for _, s := range ss {
			s.round(context.Background(), time.Now())
		}
	}
	round(a, b)
	for _, s := range []*PeerWatch{a, b} {
		if ps := s.Peers(); len(ps) != 1 || !ps[0].SharesOverlay || s.PeerInstances() != 0 {
			t.Errorf("%s: peers %+v, count %d; want the other, sharing, count 0", s.self, ps, s.PeerInstances())
		}
	}
	c, d := open("redis-two"), open("")
	round(a, b, c, d)
	for s, want := range map[*PeerWatch]int{a: 2, b: 2, c: 3, d: 3} {
		if got := s.PeerInstances(); got != want || len(s.Peers()) != 3 {
			t.Errorf("%s: counts %d of %d peers, want %d of 3", s.self, got, len(s.Peers()), want)
		}
	}
	if a.self.overlay == localOverlay || strings.Contains(a.self.String(), "redis-one") {
		t.Errorf("heartbeat name %s: want a hash of the overlay id, not %q or the id itself", a.self, localOverlay)
	}
}

// When the shared overlay's id changes (a shared store that lost its
// data), the heartbeat is renamed: the old name goes, and instances still
// on the old id count this one.
func TestHeartbeatOverlayIDChanges(t *testing.T) {
	root := t.TempDir()
	var idB atomic.Pointer[string]
	one, two := "one", "two"
	idB.Store(&one)
	a := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour, OverlayID: fixedID("one")})
	b := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour, OverlayID: func() string { return *idB.Load() }})
	settled(t, a, root)
	settled(t, b, root)
	old := b.self.String()
	idB.Store(&two) // a shared store that lost its records: a new marker
	ctx := context.Background()
	b.round(ctx, time.Now())
	a.round(ctx, time.Now())
	got := heartbeatFiles(t, root)
	if slices.Contains(got, old) || len(got) != 2 || !slices.Contains(got, b.self.String()) {
		t.Errorf("heartbeats %q: want a's and b's new %s, not the old %s", got, b.self, old)
	}
	if a.PeerInstances() != 1 || b.PeerInstances() != 1 {
		t.Errorf("counts %d and %d, want 1 each: the overlays differ now", a.PeerInstances(), b.PeerInstances())
	}
}

// A Store on a sub-folder serves other repositories: it and the Store on
// the parent do not see each other's heartbeats.
func TestPeerInstancesOtherRemotePath(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "sub")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	a := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour})
	b := newWatch(t, localRemote(t, sub), PeerOptions{Interval: time.Hour})
	settled(t, a, root)
	settled(t, b, sub)
	for range 2 {
		a.round(context.Background(), time.Now())
		b.round(context.Background(), time.Now())
	}
	if len(heartbeatFiles(t, root)) != 1 || len(heartbeatFiles(t, sub)) != 1 {
		t.Fatalf("heartbeats: %q in the root, %q in sub; want one each", heartbeatFiles(t, root), heartbeatFiles(t, sub))
	}
	if len(a.Peers())+len(b.Peers()) != 0 {
		t.Errorf("different remote paths see each other: %+v, %+v", a.Peers(), b.Peers())
	}
}

// A heartbeat is live for three of its writer's periods; older, it is a
// stopped instance; one whose time changes between our listings is live
// whatever its writer's clock says; one watched unchanged for an hour is
// removed; one of our own from an earlier start is removed, not counted.
func TestHeartbeatLiveness(t *testing.T) {
	root := t.TempDir()
	s := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour})
	settled(t, s, root)
	ctx := context.Background()
	now := time.Now()
	fresh := heartbeatName{instance: "00000000000000a1", overlay: localOverlay, period: time.Minute, host: "fresh"}
	old := heartbeatName{instance: "00000000000000a2", overlay: localOverlay, period: time.Minute, host: "old"}
	skewed := heartbeatName{instance: "00000000000000a3", overlay: localOverlay, period: time.Minute, host: "skewed"}
	slow := heartbeatName{instance: "00000000000000a4", overlay: localOverlay, period: time.Hour, host: "slow"}
	mine := heartbeatName{instance: s.self.instance, overlay: localOverlay, period: time.Minute, host: "formerhost"}
	// One instance that renamed its heartbeat; the old name is still there.
	renamedOld := heartbeatName{instance: "00000000000000a5", overlay: overlayTag("lost"), period: time.Minute, host: "renamed"}
	renamedNew := heartbeatName{instance: "00000000000000a5", overlay: overlayTag("new"), period: time.Minute, host: "renamed"}
	plantHeartbeat(t, root, renamedOld.String(), now.Add(-time.Minute))
	plantHeartbeat(t, root, renamedNew.String(), now.Add(-time.Second))
	plantHeartbeat(t, root, fresh.String(), now.Add(-90*time.Second))
	plantHeartbeat(t, root, old.String(), now.Add(-4*time.Minute))
	plantHeartbeat(t, root, skewed.String(), now.Add(-20*time.Minute)) // a clock 20 minutes behind
	plantHeartbeat(t, root, slow.String(), now.Add(-2*time.Hour))      // 3 of its periods: still live
	plantHeartbeat(t, root, mine.String(), now.Add(-time.Minute))
	plantHeartbeat(t, root, "not-a-heartbeat", now)

	hosts := func() []string {
		var out []string
		for _, p := range s.Peers() {
			out = append(out, p.Host)
		}
		slices.Sort(out)
		return out
	}
	s.round(ctx, now)
	if got := hosts(); !slices.Equal(got, []string{"fresh", "renamed", "slow"}) || s.PeerInstances() != 3 {
		t.Errorf("first round: live %q (count %d), want fresh, renamed (once) and slow", got, s.PeerInstances())
	}
	for _, p := range s.Peers() {
		if p.Host == "renamed" && !p.ModTime.Equal(now.Add(-time.Second)) {
			t.Errorf("the renamed instance is known by its older name (%v)", p.ModTime)
		}
	}
	if slices.Contains(heartbeatFiles(t, root), mine.String()) {
		t.Error("our own heartbeat of an earlier start is still on the remote")
	}

	// The skewed instance writes again (its clock still 20 minutes behind).
	now = now.Add(time.Minute)
	plantHeartbeat(t, root, skewed.String(), now.Add(-20*time.Minute))
	s.round(ctx, now)
	if got := hosts(); !slices.Equal(got, []string{"fresh", "renamed", "skewed", "slow"}) {
		t.Errorf("after the skewed instance wrote again: live %q, want fresh, renamed, skewed and slow", got)
	}

	// An hour later nothing has changed: all stopped; those watched
	// unchanged for max(1h, 10 periods) are removed.
	s.round(ctx, now.Add(time.Hour+time.Minute))
	if n := s.PeerInstances(); n != 0 {
		t.Errorf("an hour later: %d live, want 0", n)
	}
	got := heartbeatFiles(t, root)
	for _, gone := range []string{fresh.String(), old.String(), skewed.String(), renamedOld.String(), renamedNew.String()} {
		if slices.Contains(got, gone) {
			t.Errorf("stale heartbeat %s still on the remote", gone)
		}
	}
	for _, kept := range []string{slow.String(), s.self.String(), "not-a-heartbeat"} {
		if !slices.Contains(got, kept) {
			t.Errorf("%s was removed: a heartbeat of a 1h period is stale only after 10h; ours and strangers' stay", kept)
		}
	}
}

// The error is logged at first sight, repeated only every remindPeriods
// periods while the same peers remain, at once when they change, and an
// INFO line says when they are gone.
func TestPeerErrorIsNotRepeatedEveryRound(t *testing.T) {
	root := t.TempDir()
	logs := &logRecords{}
	s := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour, Logger: slog.New(logs)})
	settled(t, s, root)
	ctx := context.Background()
	now := time.Now()
	beat := func(n heartbeatName) { plantHeartbeat(t, root, n.String(), now) }
	p1 := heartbeatName{instance: "00000000000000b1", overlay: localOverlay, period: time.Hour, host: "one"}
	p2 := heartbeatName{instance: "00000000000000b2", overlay: localOverlay, period: time.Hour, host: "two"}
	beat(p1)
	s.round(ctx, now)
	now = now.Add(time.Hour)
	beat(p1)
	s.round(ctx, now)
	if n := len(logs.errors(peerWarning)); n != 1 {
		t.Fatalf("%d errors after two rounds with the same peer, want 1", n)
	}
	now = now.Add(time.Hour)
	beat(p1)
	beat(p2)
	s.round(ctx, now)
	errs := logs.errors(peerWarning)
	if len(errs) != 2 || !strings.Contains(errs[1], "peer_instances=2") {
		t.Fatalf("a second peer appeared: errors %q, want a new one naming 2", errs)
	}
	for range remindPeriods {
		now = now.Add(time.Hour)
		beat(p1)
		beat(p2)
		s.round(ctx, now)
	}
	if n := len(logs.errors(peerWarning)); n != 3 {
		t.Errorf("%d errors after %d more periods, want one reminder (3 in all)", n, remindPeriods)
	}
	if err := os.RemoveAll(filepath.Join(root, peersDir, p1.String())); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, peersDir, p2.String())); err != nil {
		t.Fatal(err)
	}
	s.round(ctx, now.Add(time.Hour))
	logs.mu.Lock()
	defer logs.mu.Unlock()
	last := logs.recs[len(logs.recs)-1]
	if last.Level != slog.LevelInfo || !strings.Contains(last.Message, "no other steadyrest instance") {
		t.Errorf("peers gone: last log %s %q, want an INFO that they are gone", last.Level, last.Message)
	}
}

// On a remote that still lists a deleted object, a removed leftover is
// removed once and not counted while it is still listed; written again (a
// new time), it counts.
func TestHeartbeatLeftoverOnLaggingRemote(t *testing.T) {
	f, root := testutil.LagRemote(t, "delete_lag=1h")
	logs := &logRecords{}
	s := newWatch(t, f, PeerOptions{Interval: time.Hour, Logger: slog.New(logs)})
	settled(t, s, root)
	ctx := context.Background()
	now := time.Now()
	dead := heartbeatName{instance: "00000000000000d1", overlay: localOverlay, period: time.Minute, host: "dead"}
	plantHeartbeat(t, root, dead.String(), now.Add(-time.Hour))
	for h := range 5 { // watched an hour, removed, then still listed for hours
		s.round(ctx, now.Add(time.Duration(h)*time.Hour))
	}
	removals := 0
	logs.mu.Lock()
	for _, r := range logs.recs {
		if strings.Contains(r.Message, "removed the leftover heartbeat") {
			removals++
		}
	}
	logs.mu.Unlock()
	if removals != 1 || s.PeerInstances() != 0 {
		t.Errorf("%d removals, %d peers; want the leftover removed once and not counted", removals, s.PeerInstances())
	}
	if names := rawNames(t, f, peersDir); !slices.Contains(names, dead.String()) {
		t.Fatalf("the lagging remote no longer lists the removed heartbeat (%q): the test shows nothing", names)
	}
	later := now.Add(4*time.Hour + time.Minute)
	plantHeartbeat(t, root, dead.String(), later) // the same instance, back
	s.round(ctx, later)
	if s.PeerInstances() != 1 {
		t.Errorf("a heartbeat written again under a removed name: %d peers, want 1", s.PeerInstances())
	}
}

// The instance id is kept in the state folder (a restart is the same
// instance), and is new without one.
func TestHeartbeatInstanceID(t *testing.T) {
	dir := t.TempDir()
	first, err := instanceID(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := instanceID(dir)
	if err != nil || again != first || len(first) != 16 {
		t.Errorf("ids in one state folder: %q then %q (%v), want the same 16 hex digits", first, again, err)
	}
	if other, _ := instanceID(t.TempDir()); other == first {
		t.Error("two state folders share an id")
	}
	a, _ := instanceID("")
	b, _ := instanceID("")
	if a == b || a == "" {
		t.Errorf("without a state folder: %q and %q, want two new ids", a, b)
	}
	if err := os.WriteFile(filepath.Join(dir, instanceIDFile), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if id, err := instanceID(dir); err != nil || id == first || len(id) != 16 {
		t.Errorf("after a torn write: %q, %v; want a new id", id, err)
	}
}

// A restart after a crash (same state folder) takes its old heartbeat
// over: it is not its own peer, and the object is updated in place.
func TestHeartbeatRestartAfterCrash(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	id, err := instanceID(state) // what the crashed process had made
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	left := heartbeatName{instance: id, overlay: localOverlay, period: time.Hour, host: nameHost(host)}.String()
	crashed := time.Now().Add(-2 * time.Hour)
	plantHeartbeat(t, root, left, crashed)

	s := newWatch(t, localRemote(t, root), PeerOptions{Interval: time.Hour, StateDir: state})
	if s.self.String() != left {
		t.Fatalf("restarted as %s, want the crashed instance's %s", s.self, left)
	}
	testutil.Eventually(t, "the first heartbeat round", 10*time.Second, func() bool {
		fi, err := os.Stat(filepath.Join(root, peersDir, left))
		return err == nil && fi.ModTime().After(crashed.Add(time.Hour))
	})
	settled(t, s, root)
	if got := heartbeatFiles(t, root); len(got) != 1 || s.PeerInstances() != 0 || len(s.Peers()) != 0 {
		t.Errorf("after the restart: heartbeats %q, peers %+v", got, s.Peers())
	}
}

func TestHeartbeatName(t *testing.T) {
	n := heartbeatName{instance: "0123456789abcdef", overlay: overlayTag("x"), period: 90 * time.Second, host: nameHost("my_host.example.org")}
	got, ok := parseHeartbeatName(n.String())
	if !ok || got != n {
		t.Errorf("round trip of %q: %+v, %v", n, got, ok)
	}
	if n.host != "my-host.example.org" {
		t.Errorf("host %q: '_' separates the name's fields", n.host)
	}
	if h := nameHost(strings.Repeat("h", 100)); len(h) != 40 {
		t.Errorf("a long host name stays %d long", len(h))
	}
	for _, bad := range []string{"", "a_b_c", "a_local_0s_h", "a_local_x_h", "_local_1m0s_h", "a_local_1m0s_"} {
		if _, ok := parseHeartbeatName(bad); ok {
			t.Errorf("%q parsed as a heartbeat", bad)
		}
	}
	if overlayTag("") != localOverlay || overlayTag("x") == overlayTag("y") {
		t.Error("overlay tags: want local for none, and different ids apart")
	}
}

// With heartbeats off (no watch: a nil one) nothing is written and
// nothing counted; a Store alone writes no heartbeat.
func TestHeartbeatOff(t *testing.T) {
	root := t.TempDir()
	plantHeartbeat(t, root, heartbeatName{instance: "00000000000000c1", overlay: localOverlay, period: time.Minute, host: "h"}.String(), time.Now())
	s := newStore(t, localRemote(t, root), Options{})
	var w *PeerWatch
	w.Start()
	w.Stop()
	w.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := heartbeatFiles(t, root); len(got) != 1 || w.PeerInstances() != 0 || w.Peers() != nil {
		t.Errorf("heartbeats off: remote holds %q, count %d", got, w.PeerInstances())
	}
}

// A watch needs a period.
func TestPeerWatchNeedsInterval(t *testing.T) {
	if _, err := NewPeerWatch(localRemote(t, t.TempDir()), PeerOptions{}); err == nil {
		t.Error("a watch without an interval started")
	}
}

// .steadyrest is no repository folder, at any depth: no handle, listing or
// repository creation reaches the heartbeats.
func TestReservedDirIsNoRepository(t *testing.T) {
	s := newStore(t, localRemote(t, t.TempDir()), Options{})
	ctx := context.Background()
	for _, repo := range []string{ReservedDir, ReservedDir + "/instances", "a/" + ReservedDir} {
		if err := (Handle{Repo: repo, Type: Config}).Validate(); err == nil {
			t.Errorf("handle in %q is valid", repo)
		}
		if err := s.CreateRepo(ctx, repo); err == nil {
			t.Errorf("CreateRepo(%q) succeeded", repo)
		}
		if _, err := s.List(ctx, repo, Keys); err == nil {
			t.Errorf("List(%q) succeeded", repo)
		}
	}
	if !ValidRepoSegment(ReservedDir[1:]) {
		t.Error("only the folder name itself is reserved")
	}
	for remote, want := range map[string]bool{peersDir + "/x": true, "repo/config": false, ReservedDir + "-x/config": false, "a/" + ReservedDir + "/x": true, "a" + ReservedDir + "/x": false} {
		if IsOwnObject(remote) != want {
			t.Errorf("IsOwnObject(%q) = %v, want %v", remote, !want, want)
		}
	}
}

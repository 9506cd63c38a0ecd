package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// farWebDAV: the far-cloud commands with the remote a WebDAV server over
// the copy (rclone's webdav backend in both servers), 50 ms per request,
// counting requests and PROPFIND bytes at that server: the same counter for
// both servers, where the remote sees the calls.
func (b *bench) farWebDAV(ctx context.Context) error {
	return b.farWebDAVRun(ctx, "farwebdav", "far cloud (WebDAV)", b.farSequence)
}

// farIssue: issue 13's own far-cloud sequence on the counting WebDAV
// server, 3 × snapshots then a backup of 10 changed files, where its goal
// (at most half the peer's requests) was set.
func (b *bench) farIssue(ctx context.Context) error {
	return b.farWebDAVRun(ctx, "farissue", "far cloud, issue 13's commands (WebDAV)", func(kind string, round int, src string) []farOp {
		all := b.farSequence(kind, round, src)
		snap, backup := all[0], all[1]
		return []farOp{
			{name: "snapshots (1st)", args: snap.args}, {name: "snapshots (2nd)", args: snap.args},
			{name: "snapshots (3rd)", args: snap.args}, backup,
		}
	})
}

// farWebDAVRun runs the commands seq returns on the counting WebDAV
// server, under scenario (a folder name) and title (the table's): at 50 ms
// a request with the tail, then the same on a fresh copy at 0 ms, whose
// wall time is restic's and the server's own work, so that the difference
// is the time spent waiting on the remote.
func (b *bench) farWebDAVRun(ctx context.Context, scenario, title string, seq func(kind string, round int, src string) []farOp) error {
	base, err := b.farBase(ctx)
	if err != nil {
		return err
	}
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range kinds {
			far, err := b.farWebDAVOnce(ctx, base, scenario, title, kind, round, 50*time.Millisecond, b.c.tail, seq)
			if err != nil {
				return err
			}
			near, err := b.farWebDAVOnce(ctx, base, scenario+"0ms", title+" at 0 ms", kind, round, 0, 0, seq)
			if err != nil {
				return err
			}
			b.res.add(sample{Scenario: title, Metric: "waiting on the remote (wall at 50 ms - wall at 0 ms)", Unit: "s", Server: kind, Round: round,
				Value: (far - near).Seconds(), Note: fmt.Sprintf("%.2f s - %.2f s", far.Seconds(), near.Seconds())})
		}
	}
	b.res.note(title+": the commands on a WebDAV server (golang.org/x/net/webdav over the copied folder, bench/cmd/bench/davcount.go) that waits 50 ms before each answer; rclone's webdav backend (vendor other) in both servers; requests and answer bytes counted by that server per HTTP method; PROPFIND KiB = bytes of listings and lookups answered; 'after' adds the %v after the last command (background confirming). 'at 0 ms': the same commands on a fresh copy with no wait per request (no tail); waiting on the remote = the commands' wall time at 50 ms minus that at 0 ms, per server and round.", b.c.tail)
	return nil
}

// farWebDAVOnce runs seq once on a fresh copy behind a WebDAV server that
// waits latency per request, and returns the commands' wall time.
func (b *bench) farWebDAVOnce(ctx context.Context, base, scenario, title, kind string, round int, latency, tailWait time.Duration, seq func(kind string, round int, src string) []farOp) (time.Duration, error) {
	dir, err := b.farCopy(base, scenario, kind, round)
	if err != nil {
		return 0, err
	}
	dav, err := startDAV(filepath.Join(dir, "remote"), latency)
	if err != nil {
		return 0, err
	}
	var wall time.Duration
	err = withServer(b.spec(kind, dav.remote(), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
		fc := farCounters{scenario: title, unit: "requests at the remote", calls: dav.calls,
			listed: dav.listedBytes, tail: tailWait}
		src := filepath.Join(base, "src")
		var err error
		if wall, err = b.farOps(ctx, fc, seq(kind, round, src), dir, kind, round, srv); err != nil {
			return fmt.Errorf("%w\n%s", err, tail(srv.Log(), 3000))
		}
		return nil
	})
	if cerr := dav.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("%s round %d (%v a request): %w", kind, round, latency, err)
	}
	return wall, nil
}

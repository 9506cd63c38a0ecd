package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/steadyrest/steadyrest/e2e"
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
// server, under scenario (a folder name) and title (the table's).
func (b *bench) farWebDAVRun(ctx context.Context, scenario, title string, seq func(kind string, round int, src string) []farOp) error {
	base, err := b.farBase(ctx)
	if err != nil {
		return err
	}
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range kinds {
			dir, err := b.farCopy(base, scenario, kind, round)
			if err != nil {
				return err
			}
			dav, err := startDAV(filepath.Join(dir, "remote"), 50*time.Millisecond)
			if err != nil {
				return err
			}
			err = withServer(b.spec(kind, dav.remote(), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
				fc := farCounters{scenario: title, unit: "requests at the remote", calls: dav.calls,
					listed: dav.listedBytes, tail: b.c.tail}
				src := filepath.Join(base, "src")
				if err := b.farOps(ctx, fc, seq(kind, round, src), dir, kind, round, srv); err != nil {
					return fmt.Errorf("%w\n%s", err, tail(srv.Log(), 3000))
				}
				return nil
			})
			if cerr := dav.close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
		}
	}
	b.res.note(title+": the commands on a WebDAV server (golang.org/x/net/webdav over the copied folder, bench/cmd/bench/davcount.go) that waits 50 ms before each answer; rclone's webdav backend (vendor other) in both servers; requests and answer bytes counted by that server per HTTP method; PROPFIND KiB = bytes of listings and lookups answered; 'after' adds the %v after the last command (background confirming).", b.c.tail)
	return nil
}

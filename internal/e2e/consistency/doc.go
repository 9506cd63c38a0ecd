// Package consistency holds the end-to-end consistency tests of
// steadyrest's overlay (issue 3): restic's REST backend suite, the "4am
// storm" of many plans on one repository, prune right after backup, restart
// inside the settle window, and a linearizability check, each on a lagging
// remote and, for contrast, through rclone serve restic on the same kind of
// remote.
//
// Its exported runners, the storm (storm.go) and the recording and
// linearizability check of a lock history (linear.go), are shared with
// cmd/storm, the shared suite and bench.
package consistency

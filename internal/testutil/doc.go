// Package testutil holds the one copy of the helpers that tests of several
// packages share: a Buffer that goroutines write while the test reads, a
// bounded poll (Until, Eventually), the lag backend's connection string and
// a remote over a fresh folder (LagSpec, LagRemote, LagFs), an rclone
// object's content (ReadObject), and the files that landed below a folder
// (FilesBelow).
//
// It is test support only: nothing outside tests and the test fixtures
// under internal/ imports it. It does not link the lag backend itself, so
// that lagfs's own tests can use it; a test that opens a lag remote imports
// internal/lagfs.
package testutil

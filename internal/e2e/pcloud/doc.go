// Package pcloud runs the end-to-end tests of issue 5: restic through
// steadyrest (and, for contrast, through rclone serve restic) into rclone's
// real pcloud backend, talking to the local pCloud API emulator
// (pcloudemu) with pCloud's eventual consistency switched on.
package pcloud

// Package faults drives a real steadyrest process with the real restic
// binary over remotes that fail: transient errors, uploads and downloads
// cut mid-stream, permissions refused, a full quota, a crash (SIGKILL) in
// the middle of a storm, a damaged journal, clients that hang up, and a
// bounded load.
package faults

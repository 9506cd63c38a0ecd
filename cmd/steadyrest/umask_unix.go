//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// setUmask applies --umask to the process, before anything is created:
// rclone's local backend and the journal create files with 0666/0777 and
// leave the rest to the mask.
func setUmask(s string) error {
	mask, err := parseUmask(s)
	if err != nil || mask < 0 {
		return err
	}
	old := syscall.Umask(mask)
	slog.Debug("umask set", "umask", s, "was", old)
	return nil
}

//go:build !unix

package main

// setUmask checks --umask; other systems have no process umask.
func setUmask(s string) error {
	_, err := parseUmask(s)
	return err
}

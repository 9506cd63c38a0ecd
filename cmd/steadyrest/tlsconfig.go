package main

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// parseTLSVersion reads --min-tls-version in rclone's spelling (tls1.2),
// also taking 1.2.
func parseTLSVersion(s string) (uint16, error) {
	switch strings.TrimPrefix(strings.ToLower(s), "tls") {
	case "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2", "":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--min-tls-version %q: want tls1.0, tls1.1, tls1.2 or tls1.3", s)
}

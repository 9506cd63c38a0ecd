package proxy

import (
	"errors"
	"strconv"
	"strings"
)

var (
	errRangeMalformed     = errors.New("malformed Range header")
	errRangeUnsatisfiable = errors.New("range not satisfiable")
)

// parseRange reads a single-range "Range: bytes=..." header for an object of
// size bytes and returns the offset and length to serve. restic only sends
// "bytes=a-b" and "bytes=a-"; the suffix form "bytes=-n" is accepted for
// other clients. Several ranges are refused: nothing uses them against a
// restic server, and multipart answers are not worth their complexity.
func parseRange(h string, size int64) (off, length int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, errRangeMalformed
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, errRangeMalformed
	}
	if first == "" { // suffix: the last n bytes
		n, err := parseNonNegative(last)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 || size == 0 {
			return 0, 0, errRangeUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, nil
	}
	start, err := parseNonNegative(first)
	if err != nil {
		return 0, 0, err
	}
	end := size - 1
	if last != "" {
		e, err := parseNonNegative(last)
		if err != nil {
			return 0, 0, err
		}
		if e < start {
			return 0, 0, errRangeMalformed
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, errRangeUnsatisfiable
	}
	return start, end - start + 1, nil
}

// parseNonNegative parses a decimal without sign; strconv alone would also
// accept "+5".
func parseNonNegative(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errRangeMalformed
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errRangeMalformed
	}
	return n, nil
}

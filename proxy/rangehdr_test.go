package proxy

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		h        string
		size     int64
		off, len int64
		err      error
	}{
		{"bytes=0-9", 100, 0, 10, nil},
		{"bytes=10-19", 100, 10, 10, nil},
		{"bytes=5-5", 100, 5, 1, nil},
		{"bytes=90-200", 100, 90, 10, nil}, // end past the object is clamped
		{"bytes=99-", 100, 99, 1, nil},
		{"bytes=0-", 100, 0, 100, nil},
		{"bytes=-10", 100, 90, 10, nil},
		{"bytes=-1000", 100, 0, 100, nil},
		{" bytes=1-2 ", 100, 1, 2, nil},

		{"bytes=100-", 100, 0, 0, errRangeUnsatisfiable},
		{"bytes=100-200", 100, 0, 0, errRangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, errRangeUnsatisfiable},
		{"bytes=-0", 100, 0, 0, errRangeUnsatisfiable},
		{"bytes=-5", 0, 0, 0, errRangeUnsatisfiable},

		{"bytes=9-0", 100, 0, 0, errRangeMalformed},
		{"bytes=0-1,5-6", 100, 0, 0, errRangeMalformed},
		{"bytes=", 100, 0, 0, errRangeMalformed},
		{"bytes=-", 100, 0, 0, errRangeMalformed},
		{"bytes=a-b", 100, 0, 0, errRangeMalformed},
		{"bytes=+1-2", 100, 0, 0, errRangeMalformed},
		{"bytes=1-+2", 100, 0, 0, errRangeMalformed},
		{"bytes=--1", 100, 0, 0, errRangeMalformed},
		{"bytes=5", 100, 0, 0, errRangeMalformed},
		{"items=0-1", 100, 0, 0, errRangeMalformed},
		{"0-1", 100, 0, 0, errRangeMalformed},
		{"bytes=99999999999999999999-", 100, 0, 0, errRangeMalformed},
	}
	for _, tt := range tests {
		off, n, err := parseRange(tt.h, tt.size)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("parseRange(%q, %d): err %v, want %v", tt.h, tt.size, err, tt.err)
			continue
		}
		if err == nil && (off != tt.off || n != tt.len) {
			t.Errorf("parseRange(%q, %d) = %d,%d, want %d,%d", tt.h, tt.size, off, n, tt.off, tt.len)
		}
	}
}

package main

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// A real line's shape, with a command name holding ") (" and spaces.
	line := "4242 (steady) (rest x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 142 0 0 20 0 9 0 12345 1900000000 20000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"
	user, sys, err := parseStatCPU(line)
	if err != nil || user != 731 || sys != 142 {
		t.Errorf("parseStatCPU = %d, %d, %v; want 731, 142", user, sys, err)
	}
	for _, bad := range []string{"", "4242 steady S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 u 142"} {
		if _, _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) took it", bad)
		}
	}
	// Our own process has a stat file to read.
	if _, err := cpuSeconds(os.Getpid()); err != nil {
		t.Errorf("cpuSeconds(self): %v", err)
	}
}

func TestParseDirtyKiB(t *testing.T) {
	mi := "MemTotal:       24683548 kB\nDirty:            198392 kB\nWritebackTmp:          7 kB\nWriteback:          1024 kB\n"
	if got, err := parseDirtyKiB(mi); err != nil || got != 199416 {
		t.Errorf("parseDirtyKiB = %d, %v; want 199416", got, err)
	}
	for _, bad := range []string{"", "Dirty: 5 kB\n", "Dirty: x kB\nWriteback: 0 kB\n"} {
		if _, err := parseDirtyKiB(bad); err == nil {
			t.Errorf("parseDirtyKiB(%q) took it", bad)
		}
	}
	if _, err := dirtyMiB(); err != nil {
		t.Errorf("dirtyMiB: %v", err)
	}
}

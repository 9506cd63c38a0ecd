package main

import (
	"slices"
	"testing"
)

func TestParseVariant(t *testing.T) {
	for s, want := range map[string]variant{
		"before=/tmp/old/steadyrest":         {label: "before", bin: "/tmp/old/steadyrest"},
		"no spool=- --spool-bytes 0":         {label: "no spool", bin: "", flags: []string{"--spool-bytes", "0"}},
		" old = /b/steadyrest  --x=1   --y ": {label: "old", bin: "/b/steadyrest", flags: []string{"--x=1", "--y"}},
	} {
		got, err := parseVariant(s)
		if err != nil || got.label != want.label || got.bin != want.bin || !slices.Equal(got.flags, want.flags) {
			t.Errorf("parseVariant(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "nolabel", "=bin", "x=", "x=  ", steady + "=bin", rclone + "=-"} {
		if _, err := parseVariant(s); err == nil {
			t.Errorf("parseVariant(%q) took it", s)
		}
	}
	var v variants
	if err := v.Set("a=-"); err != nil {
		t.Fatal(err)
	}
	if err := v.Set("a=/bin"); err == nil {
		t.Errorf("a second variant labelled a was taken")
	}
}

// The throughput columns are steadyrest, the variants, then rclone serve
// restic (the base), in a table of their own, rotated each round.
func TestThroughputKinds(t *testing.T) {
	b := &bench{res: &results{}}
	for round := 1; round <= 3; round++ {
		if got := b.throughputKinds(round); !slices.Equal(got, kinds) {
			t.Errorf("without variants, round %d: %q", round, got)
		}
	}
	b.c.variants = variants{{label: "old"}, {label: "no spool"}}
	for round, want := range map[int][]string{
		1: {steady, "old", "no spool", rclone},
		2: {"old", "no spool", rclone, steady},
		4: {rclone, steady, "old", "no spool"},
		5: {steady, "old", "no spool", rclone},
	} {
		if got := b.throughputKinds(round); !slices.Equal(got, want) {
			t.Errorf("with variants, round %d: %q, want %q", round, got, want)
		}
	}
	if got, want := b.res.columnsOf("throughput"), []string{steady, "old", "no spool", rclone}; !slices.Equal(got, want) {
		t.Errorf("columns: %q, want %q", got, want)
	}
	if _, i, ok := b.variant("no spool"); !ok || i != 1 {
		t.Errorf("variant(no spool) = %d, %v", i, ok)
	}
}

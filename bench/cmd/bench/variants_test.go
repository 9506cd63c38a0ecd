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

// The throughput columns run steadyrest, the variants, then rclone serve
// restic (the base), and get a table of their own.
func TestThroughputKinds(t *testing.T) {
	b := &bench{res: &results{}}
	if got := b.throughputKinds(); !slices.Equal(got, kinds) {
		t.Errorf("without variants: %q", got)
	}
	b.c.variants = variants{{label: "old"}, {label: "no spool"}}
	want := []string{steady, "old", "no spool", rclone}
	if got := b.throughputKinds(); !slices.Equal(got, want) {
		t.Errorf("with variants: %q, want %q", got, want)
	}
	if got := b.res.columnsOf("throughput"); !slices.Equal(got, want) {
		t.Errorf("columns: %q, want %q", got, want)
	}
	if _, i, ok := b.variant("no spool"); !ok || i != 1 {
		t.Errorf("variant(no spool) = %d, %v", i, ok)
	}
}

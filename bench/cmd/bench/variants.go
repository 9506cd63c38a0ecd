package main

import (
	"fmt"
	"strings"
)

// variant is one more steadyrest set-up the throughput scenario runs in
// each round, alternating with steadyrest and rclone serve restic: another
// build (an older commit's binary) or other flags, so that two trees or
// two flag sets are compared in the same run, on the same disk state and
// under the same load.
type variant struct {
	label string
	bin   string // "" for the --steadyrest binary
	flags []string
}

// variants is the repeatable --variant flag.
type variants []variant

func (v *variants) String() string {
	var s []string
	for _, x := range *v {
		s = append(s, x.label)
	}
	return strings.Join(s, ",")
}

// Set takes "LABEL=BIN [FLAG...]": BIN is a steadyrest binary, or "-" for
// the --steadyrest one; the flags (split at spaces) are added to the
// bench's own.
func (v *variants) Set(s string) error {
	x, err := parseVariant(s)
	if err != nil {
		return err
	}
	for _, y := range *v {
		if y.label == x.label {
			return fmt.Errorf("variant %q given twice", x.label)
		}
	}
	*v = append(*v, x)
	return nil
}

func parseVariant(s string) (variant, error) {
	label, rest, ok := strings.Cut(s, "=")
	label = strings.TrimSpace(label)
	if !ok || label == "" {
		return variant{}, fmt.Errorf("variant %q: want LABEL=BIN [FLAG...]", s)
	}
	if label == steady || label == rclone {
		return variant{}, fmt.Errorf("variant %q: the label %q names a column the bench has already", s, label)
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return variant{}, fmt.Errorf("variant %q: no binary (give - for the --steadyrest one)", s)
	}
	x := variant{label: label, bin: f[0], flags: f[1:]}
	if x.bin == "-" {
		x.bin = ""
	}
	return x, nil
}

// variant returns the variant labelled kind, if any, and its index.
func (b *bench) variant(kind string) (variant, int, bool) {
	for i, v := range b.c.variants {
		if v.label == kind {
			return v, i, true
		}
	}
	return variant{}, 0, false
}

// throughputKinds are the columns of the throughput scenario in the order
// they run in round (from 1): without variants steadyrest then rclone
// serve restic, as always; with variants steadyrest, the variants, rclone
// serve restic (the base of the ratios), rotated by one place each round,
// so that over as many rounds as columns each runs once in each position
// (after a given other, with the disk's write-back of a given other).
func (b *bench) throughputKinds(round int) []string {
	if len(b.c.variants) == 0 {
		return kinds
	}
	cols := []string{steady}
	for _, v := range b.c.variants {
		cols = append(cols, v.label)
	}
	b.res.setColumns("throughput", rclone, cols...)
	cols = append(cols, rclone)
	k := (round - 1) % len(cols)
	return append(cols[k:len(cols):len(cols)], cols[:k]...)
}

// noteVariants says in the results what each variant ran.
func (b *bench) noteVariants(scenario string) {
	for _, v := range b.c.variants {
		bin := v.bin
		if bin == "" {
			bin = b.c.steadyrest + " (the --steadyrest binary)"
		}
		b.res.note("%s: %q is %s with the bench's flags plus %q; the order of the servers rotates by one each round.", scenario, v.label, bin, strings.Join(v.flags, " "))
	}
}

package scrub

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// WriteText writes the report for people: what was checked, each finding
// with what it means, and the outcome with what to do next.
func (r *Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "scrub of %s (%s)\n", r.Remote, r.Duration.Round(time.Millisecond))
	repos := make([]string, len(r.Repositories))
	for i, p := range r.Repositories {
		repos[i] = cmp.Or(p, ".")
	}
	fmt.Fprintf(b, "repositories: %d (%s)\n", len(r.Repositories), strings.Join(repos, ", "))
	fmt.Fprintf(b, "objects: %d (%s): %d verified by the remote's SHA-256, %d by reading (%s read), %d unverified",
		r.Objects, sizeText(r.Bytes), r.VerifiedRemote, r.VerifiedRead, sizeText(r.ReadBytes), r.Unverified)
	if r.Vanished > 0 {
		fmt.Fprintf(b, ", %d deleted while scrubbing", r.Vanished)
	}
	fmt.Fprintln(b)
	if r.NoRemoteHash != "" {
		fmt.Fprintf(b, "note: %s\n", r.NoRemoteHash)
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(b, "findings: %d\n", len(r.Findings))
		for _, f := range r.Findings {
			fmt.Fprintf(b, "  %-10s %s", f.Kind, f.Path)
			if f.Size >= 0 {
				fmt.Fprintf(b, " (%d bytes)", f.Size)
			}
			fmt.Fprintf(b, ": %s", f.Detail)
			if f.SHA256 != "" {
				fmt.Fprintf(b, " (SHA-256 %s, by %s)", f.SHA256, f.Source)
			}
			fmt.Fprintln(b)
		}
	}
	if r.ErrorCount > 0 {
		fmt.Fprintf(b, "errors: %d objects could not be checked\n", r.ErrorCount)
		for _, e := range r.Errors {
			fmt.Fprintf(b, "  %s: %s\n", e.Path, e.Error)
		}
		if extra := r.ErrorCount - int64(len(r.Errors)); extra > 0 {
			fmt.Fprintf(b, "  … and %d more\n", extra)
		}
	}
	fmt.Fprintf(b, "outcome: %s: %s\n", r.Outcome, r.advice())
	for _, repo := range r.Repositories {
		if ids := r.damagedPacks(repo); len(ids) > 0 {
			fmt.Fprintf(b, "  repository %s: restic repair packs %s\n", cmp.Or(repo, "."), strings.Join(ids, " "))
		}
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("scrub: write report: %w", err)
	}
	return nil
}

// advice is the next step for the outcome.
func (r *Report) advice() string {
	switch r.Outcome {
	case Clean:
		return "every object matches its name"
	case Damaged:
		return "see docs/scrub.md for what each finding means and what to do; damaged packs go with `restic repair packs`, then `restic check`"
	case Unverified:
		return "the remote reports no SHA-256 for some objects; run again with --read to download and hash them"
	case Incomplete:
		if r.Stopped {
			return "the scrub was stopped before the end"
		}
		return "some objects could not be checked; run again"
	}
	return ""
}

// damagedPacks are the IDs of repo's packs with a wrong hash or size or
// empty, the arguments of `restic repair packs`.
func (r *Report) damagedPacks(repo string) []string {
	var ids []string
	for _, f := range r.Findings {
		damage := f.Kind == WrongHash || f.Kind == WrongSize || f.Kind == EmptyPack
		if damage && f.Repository == repo && path.Dir(path.Dir(f.Path)) == path.Join(repo, "data") {
			ids = append(ids, path.Base(f.Path))
		}
	}
	return ids
}

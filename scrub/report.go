package scrub

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxErrors bounds the object errors a report keeps; the rest are counted.
const maxErrors = 50

// Report is what a scrub found.
type Report struct {
	Remote string `json:"remote"`
	// Repositories are the paths of the repositories found ("" is the
	// remote itself).
	Repositories []string `json:"repositories"`
	// Objects and Bytes: the hash-named files examined and their listed size.
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// VerifiedRemote objects matched their name by the remote's SHA-256,
	// VerifiedRead by downloading (Read), Unverified could not be checked
	// for lack of a SHA-256; Vanished were deleted while scrub ran (a
	// lock released, a pack pruned).
	VerifiedRemote int64 `json:"verified_remote"`
	VerifiedRead   int64 `json:"verified_read"`
	Unverified     int64 `json:"unverified"`
	Vanished       int64 `json:"vanished"`
	// ReadBytes were downloaded (Read only).
	ReadBytes int64 `json:"read_bytes"`
	// NoRemoteHash says why the remote gave no SHA-256, if it did not.
	NoRemoteHash string `json:"no_remote_sha256,omitempty"`

	Findings []Finding `json:"findings"`
	// Errors are objects that could not be checked (the first maxErrors);
	// ErrorCount counts them all.
	Errors     []ObjectError `json:"errors"`
	ErrorCount int64         `json:"error_count"`
	// Stopped: the scrub was interrupted (its context ended) before the end.
	Stopped bool `json:"stopped,omitempty"`

	Outcome  Outcome       `json:"outcome"`
	Duration time.Duration `json:"-"`
}

// finish sorts the findings and errors and sets the outcome; runErr is
// the error that ended the run early, if any.
func (r *Report) finish(d time.Duration, runErr error) {
	slices.SortFunc(r.Findings, func(a, b Finding) int { return cmp.Compare(a.Path, b.Path) })
	slices.SortFunc(r.Errors, func(a, b ObjectError) int { return cmp.Compare(a.Path, b.Path) })
	slices.Sort(r.Repositories)
	r.Duration = d
	switch {
	case len(r.Findings) > 0:
		r.Outcome = Damaged
	case r.ErrorCount > 0 || r.Stopped || runErr != nil:
		r.Outcome = Incomplete
	case r.Unverified > 0:
		r.Outcome = Unverified
	default:
		r.Outcome = Clean
	}
}

// JSON is the report for machines, one JSON object and a newline.
func (r *Report) JSON() ([]byte, error) {
	type alias Report // without methods, so no recursion
	out := struct {
		*alias
		Seconds  float64 `json:"duration_seconds"`
		ExitCode int     `json:"exit_code"`
	}{(*alias)(r), r.Duration.Seconds(), r.Outcome.ExitCode()}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	if out.Errors == nil {
		out.Errors = []ObjectError{}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("scrub: encode report: %w", err)
	}
	return append(b, '\n'), nil
}

// Progress is the running count a progress line shows.
type Progress struct {
	Repositories, Objects, Findings int64
	Bytes, ReadBytes                int64
}

func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d repositories, %d objects (%s) checked, %d findings", p.Repositories, p.Objects, sizeText(p.Bytes), p.Findings)
	if p.ReadBytes > 0 {
		fmt.Fprintf(&b, ", %s read", sizeText(p.ReadBytes))
	}
	return b.String()
}

// sizeText is n bytes in binary units.
func sizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

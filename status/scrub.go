package status

import "time"

// MaxScrubFindings bounds the findings the page lists; the rest are
// counted (the log has a line for each).
const MaxScrubFindings = 100

// ScrubFinding is one file the background scrub found damaged or out of
// place; Path is below the served remote. The page is the operator's
// alone (/status's guard), so it may name files of every repository.
type ScrubFinding struct {
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

// Scrub is the background scrub's state (--scrub-interval) for the page.
type Scrub struct {
	Interval Seconds `json:"interval_s"`
	Running  bool    `json:"running"`
	// LastRun is when the last run ended; nil: none yet (the first runs
	// one interval after the start). The rest describe that run.
	LastRun      *time.Time `json:"last_run,omitempty"`
	Duration     Seconds    `json:"duration_s"`
	Outcome      string     `json:"outcome,omitempty"`
	Error        string     `json:"error,omitempty"`
	Repositories int        `json:"repositories"`
	Objects      int64      `json:"objects"`
	Unverified   int64      `json:"unverified"`
	Errors       int64      `json:"errors"`
	// Findings are the first MaxScrubFindings; FindingCount counts all.
	Findings     []ScrubFinding `json:"findings"`
	FindingCount int            `json:"finding_count"`
}

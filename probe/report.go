package probe

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Kind is one thing the probe measures the lag of.
type Kind string

// The measured kinds, in report order.
const (
	CreateListed        Kind = "create_listed"         // a new object shows in its folder's listing
	CreateLookup        Kind = "create_lookup"         // a new object is found by name
	CreateReadable      Kind = "create_readable"       // a new object reads back as written
	DeleteUnlisted      Kind = "delete_unlisted"       // a deleted object is gone from the listing
	DeleteLookup        Kind = "delete_lookup"         // a deleted object is no longer found by name
	FreshDeleteAccepted Kind = "fresh_delete_accepted" // a refused delete of a fresh object finally accepted
)

// Kinds lists the kinds in report order.
var Kinds = []Kind{CreateListed, CreateLookup, CreateReadable, DeleteUnlisted, DeleteLookup, FreshDeleteAccepted}

var kindLabels = map[Kind]string{
	CreateListed:        "create: shows in listing",
	CreateLookup:        "create: found by name",
	CreateReadable:      "create: readable",
	DeleteUnlisted:      "delete: gone from listing",
	DeleteLookup:        "delete: gone by name",
	FreshDeleteAccepted: "fresh delete: accepted",
}

// Label is the kind's human name.
func (k Kind) Label() string { return kindLabels[k] }

// Seconds is a duration that reads as seconds in JSON.
type Seconds time.Duration

// MarshalJSON writes the duration as a number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)), nil
}

func (s Seconds) String() string { return fmtDur(time.Duration(s)) }

// Dist summarises a set of durations.
type Dist struct {
	N      int     `json:"n"`
	Median Seconds `json:"median_s"`
	P90    Seconds `json:"p90_s"`
	Max    Seconds `json:"max_s"`
}

func newDist(samples []time.Duration) Dist {
	if len(samples) == 0 {
		return Dist{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return Dist{N: len(s), Median: Seconds(quantile(s, 0.5)), P90: Seconds(quantile(s, 0.9)), Max: Seconds(s[len(s)-1])}
}

// quantile of sorted s by the nearest-rank method: always an observed value.
func quantile(s []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// LagStat is what was seen of one kind of lag.
type LagStat struct {
	Kind  Kind   `json:"kind"`
	Label string `json:"label"`
	Dist
	// Immediate counts the samples seen at the first poll, right after the
	// acknowledgement: no lag at all.
	Immediate int `json:"immediate"`
	// Timeouts counts changes not seen within the probe's timeout.
	Timeouts int       `json:"timeouts"`
	Samples  []Seconds `json:"samples_s"`

	raw []time.Duration
}

// CallStat is the latency and failures of one kind of remote call.
type CallStat struct {
	Op string `json:"op"`
	Dist
	Errors int `json:"errors"`

	raw []time.Duration
}

// ErrorStat counts one distinct error message of one call.
type ErrorStat struct {
	Op      string `json:"op"`
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// Fresh is what happened to deletes right after an upload.
type Fresh struct {
	Tried   int `json:"tried"`
	Refused int `json:"refused"`
	// LastRefusal is the remote's answer to the last refused delete.
	LastRefusal string `json:"last_refusal,omitempty"`
}

// Recommendation is the probe's conclusion.
type Recommendation struct {
	// NeedsSteadyrest: the remote showed lag (or refused fresh deletes).
	NeedsSteadyrest bool `json:"needs_steadyrest"`
	// WorstLag is the largest lag seen of any kind.
	WorstLag Seconds `json:"worst_lag_s"`
	// SettleWindow is the --settle-window to run steadyrest with (0 when
	// it is not needed).
	SettleWindow Seconds `json:"settle_window_s"`
	Text         string  `json:"text"`
}

// Report is the result of a probe run.
type Report struct {
	Remote      string    `json:"remote"`
	Started     time.Time `json:"started"`
	Duration    Seconds   `json:"duration_s"`
	Rounds      int       `json:"rounds"`
	Writes      int       `json:"writes"`
	Interrupted bool      `json:"interrupted"`

	Lags           map[Kind]*LagStat    `json:"-"`
	LagList        []*LagStat           `json:"lags"`
	Fresh          Fresh                `json:"fresh_delete"`
	Calls          map[string]*CallStat `json:"-"`
	CallList       []*CallStat          `json:"calls"`
	Errors         []*ErrorStat         `json:"errors"`
	Recommendation Recommendation       `json:"recommendation"`
}

func newReport(remote string) *Report {
	r := &Report{Remote: remote, Started: time.Now().UTC(), Lags: map[Kind]*LagStat{}, Calls: map[string]*CallStat{}}
	for _, k := range Kinds {
		r.Lags[k] = &LagStat{Kind: k, Label: k.Label()}
	}
	return r
}

func (r *Report) lag(k Kind, d time.Duration, immediate bool) {
	l := r.Lags[k]
	l.raw = append(l.raw, max(d, 0))
	if immediate {
		l.Immediate++
	}
}

func (r *Report) call(op string, d time.Duration, err error) {
	c := r.Calls[op]
	if c == nil {
		c = &CallStat{Op: op}
		r.Calls[op] = c
	}
	c.raw = append(c.raw, d)
	if err != nil {
		c.Errors++
		r.errorf(op, "%v", err)
	}
}

// maxDistinctErrors bounds the error list: a failing remote repeats itself.
const maxDistinctErrors = 20

func (r *Report) errorf(op, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, e := range r.Errors {
		if e.Op == op && e.Message == msg {
			e.Count++
			return
		}
	}
	if len(r.Errors) < maxDistinctErrors {
		r.Errors = append(r.Errors, &ErrorStat{Op: op, Message: msg, Count: 1})
	}
}

// finish computes the summaries and the recommendation.
func (r *Report) finish(d, timeout, floor time.Duration) {
	r.Duration = Seconds(d)
	r.LagList = r.LagList[:0]
	var worst time.Duration
	lagged, timeouts := false, 0
	for _, k := range Kinds {
		l := r.Lags[k]
		l.Dist = newDist(l.raw)
		l.Samples = make([]Seconds, len(l.raw))
		for i, v := range l.raw {
			l.Samples[i] = Seconds(v)
		}
		if l.N > 0 && l.Max > Seconds(worst) {
			worst = time.Duration(l.Max)
		}
		if l.Immediate < l.N {
			lagged = true
		}
		timeouts += l.Timeouts
		r.LagList = append(r.LagList, l)
	}
	r.CallList = r.CallList[:0]
	for _, c := range r.Calls {
		c.Dist = newDist(c.raw)
		r.CallList = append(r.CallList, c)
	}
	sort.Slice(r.CallList, func(i, j int) bool { return r.CallList[i].Op < r.CallList[j].Op })
	writes := r.Writes
	if r.Lags[CreateListed].N == 0 || r.Lags[DeleteUnlisted].N == 0 {
		writes = 0 // no full round: too little to say the remote does not lag
	}
	r.Recommendation = recommend(worst, lagged || r.Fresh.Refused > 0, timeouts, timeout, writes, floor)
	if r.Interrupted && !r.Recommendation.NeedsSteadyrest {
		r.Recommendation.Text = "Interrupted before any lag was seen: too little measured to conclude. Run the probe again to the end."
	}
}

// recommend picks a settle window of four times the worst lag seen, at
// least floor, rounded up to a whole minute: the window is a safety
// valve, and a lag twice the worst seen in a short probe is not rare.
func recommend(worst time.Duration, lagged bool, timeouts int, timeout time.Duration, writes int, floor time.Duration) Recommendation {
	rec := Recommendation{WorstLag: Seconds(worst)}
	switch {
	case writes == 0 && !lagged:
		rec.Text = "No object was written, seen and deleted: nothing to conclude from."
	case timeouts > 0:
		rec.NeedsSteadyrest = true
		w := roundUpMinute(max(4*timeout, floor))
		rec.SettleWindow = Seconds(w)
		rec.Text = fmt.Sprintf("The remote did not show %d change(s) within %s: it lags badly. Use steadyrest, with --settle-window %s or more, and probe again with a longer --timeout.",
			timeouts, fmtDur(timeout), fmtDur(w))
	case !lagged:
		rec.Text = "No lag seen: every change showed at once, and fresh deletes were accepted. steadyrest is not needed for this remote; rclone serve restic is enough."
	default:
		rec.NeedsSteadyrest = true
		w := roundUpMinute(max(4*worst, floor))
		rec.SettleWindow = Seconds(w)
		rec.Text = fmt.Sprintf("The remote lags (worst seen %s): restic needs steadyrest in front of it. Run it with --settle-window %s (4x the worst lag, at least %s).",
			fmtDur(worst), fmtDur(w), fmtDur(roundUpMinute(floor)))
	}
	return rec
}

func roundUpMinute(d time.Duration) time.Duration {
	return (d + time.Minute - 1) / time.Minute * time.Minute
}

// JSON renders the report for scripts.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return append(b, '\n'), nil
}

// fmtDur prints a duration short and readable: 0s, 35ms, 1.25s, 2m30s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute) // "10m", as a flag takes it
	}
	return d.Round(time.Second).String()
}

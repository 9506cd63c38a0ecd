package probe

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// histBounds are the upper bounds of the histogram's buckets: roughly
// logarithmic, since lags run from nothing to minutes.
var histBounds = []time.Duration{
	10 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute,
}

const histWidth = 30 // characters of the longest bar

// WriteText renders the report for a terminal: the lags with a histogram
// each, the call latencies, the errors and the recommendation.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "steadyrest probe of %s: %d round(s), %d object(s) written, %s", r.Remote, r.Rounds, r.Writes, r.Duration)
	if r.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n\nLag after the remote acknowledged a write or delete:\n")
	fmt.Fprintf(&b, "  %-26s %5s %9s %9s %9s %9s\n", "", "n", "median", "p90", "max", "timeouts")
	for _, l := range r.LagList {
		if l.N == 0 && l.Timeouts == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %-26s %5d %9s %9s %9s %9d\n", l.Label, l.N, l.Median, l.P90, l.Max, l.Timeouts)
	}
	fmt.Fprintf(&b, "  %-26s %d of %d refused", "fresh delete: refused", r.Fresh.Refused, r.Fresh.Tried)
	if r.Fresh.LastRefusal != "" {
		fmt.Fprintf(&b, " (%s)", r.Fresh.LastRefusal)
	}
	b.WriteString("\n")

	for _, l := range r.LagList {
		if l.N > 0 {
			fmt.Fprintf(&b, "\n%s\n", l.Label)
			histogram(&b, l.raw)
		}
	}

	b.WriteString("\nRemote call latency:\n")
	fmt.Fprintf(&b, "  %-12s %5s %9s %9s %9s %7s\n", "", "n", "median", "p90", "max", "errors")
	for _, c := range r.CallList {
		fmt.Fprintf(&b, "  %-12s %5d %9s %9s %9s %7d\n", c.Op, c.N, c.Median, c.P90, c.Max, c.Errors)
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nErrors (not-found answers while waiting are expected on a lagging remote):\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %-8s %4dx %s\n", e.Op, e.Count, e.Message)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.Recommendation.Text)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// histogram writes one bar per bucket from the first to the last non-empty
// one, so the shape shows without a screenful of empty rows.
func histogram(b *strings.Builder, samples []time.Duration) {
	counts := make([]int, len(histBounds)+1)
	for _, s := range samples {
		i := 0
		for i < len(histBounds) && s > histBounds[i] {
			i++
		}
		counts[i]++
	}
	first, last, most := -1, -1, 0
	for i, c := range counts {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
			most = max(most, c)
		}
	}
	for i := first; i >= 0 && i <= last; i++ {
		label := "> " + fmtDur(histBounds[len(histBounds)-1])
		if i < len(histBounds) {
			lo := "0s"
			if i > 0 {
				lo = fmtDur(histBounds[i-1])
			}
			label = lo + " - " + fmtDur(histBounds[i])
		}
		bar := strings.Repeat("#", (counts[i]*histWidth+most-1)/most)
		fmt.Fprintf(b, "  %15s | %-*s %d\n", label, histWidth, bar, counts[i])
	}
}

package status

import (
	"fmt"
	"strings"
	"time"
)

// The chart's geometry, in SVG user units.
const (
	chartW, chartH = 640, 200
	padL, padR     = 52, 12
	padT, padB     = 12, 26
)

// chart is the inline SVG chart of the last hour's lag: one line per kind
// through each minute's largest lag, a dot per minute with samples.
type chart struct {
	W, H                 int
	Left, Right, Top, Y0 int
	Create, Delete       series
	YTicks               []tick
	XTicks               []tick
	Empty                bool
}

type series struct {
	Points string // polyline points
	Dots   []dot
}

type dot struct {
	X, Y  string
	Title string
}

type tick struct {
	Pos   string
	Label string
}

// niceMax rounds the largest lag up to 1, 2 or 5 times a power of ten
// seconds, at least one second, so the axis reads well.
func niceMax(d time.Duration) time.Duration {
	for _, m := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
		20 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour} {
		if d <= m {
			return m
		}
	}
	return d
}

func newChart(s Snapshot) chart {
	c := chart{W: chartW, H: chartH, Left: padL, Right: chartW - padR, Top: padT, Y0: chartH - padB}
	var top time.Duration
	for _, p := range append(append([]LagPoint{}, s.CreateLag...), s.DeleteLag...) {
		top = max(top, time.Duration(p.Max))
	}
	c.Empty = len(s.CreateLag)+len(s.DeleteLag) == 0
	top = niceMax(top)
	start := s.Now.Add(-window)
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(window)
		return float64(c.Left) + max(0, min(f, 1))*float64(c.Right-c.Left)
	}
	y := func(d time.Duration) float64 {
		return float64(c.Y0) - float64(d)/float64(top)*float64(c.Y0-c.Top)
	}
	line := func(kind string, pts []LagPoint) series {
		var sr series
		var b strings.Builder
		for _, p := range pts {
			// A minute's dot sits at the middle of the minute.
			px, py := x(p.Minute.Add(30*time.Second)), y(time.Duration(p.Max))
			fmt.Fprintf(&b, "%.1f,%.1f ", px, py)
			sr.Dots = append(sr.Dots, dot{X: fmt.Sprintf("%.1f", px), Y: fmt.Sprintf("%.1f", py),
				Title: fmt.Sprintf("%s lag at %s: max %s, mean %s over %d", kind, p.Minute.Format("15:04"), p.Max, p.Mean, p.N)})
		}
		sr.Points = strings.TrimSpace(b.String())
		return sr
	}
	c.Create = line("create", s.CreateLag)
	c.Delete = line("delete", s.DeleteLag)
	for _, f := range []float64{0, 0.5, 1} {
		d := time.Duration(f * float64(top))
		c.YTicks = append(c.YTicks, tick{Pos: fmt.Sprintf("%.1f", y(d)), Label: Seconds(d).String()})
	}
	for _, m := range []int{60, 45, 30, 15, 0} {
		label := fmt.Sprintf("-%dm", m)
		if m == 0 {
			label = "now"
		}
		c.XTicks = append(c.XTicks, tick{Pos: fmt.Sprintf("%.1f", x(s.Now.Add(-time.Duration(m)*time.Minute))), Label: label})
	}
	return c
}

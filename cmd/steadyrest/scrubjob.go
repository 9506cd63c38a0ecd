package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rclone/rclone/fs"

	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/scrub"
	"github.com/steadyrest/steadyrest/status"
)

// scrubJob is the server's background scrub (--scrub-interval): every
// interval it runs scrub.Run over the served remote, the same fs.Fs the
// overlay writes through, and feeds the metrics and the status page. A
// run only lists, asks the remote for hashes and looks objects up; it
// never writes and, without Options.Read, never downloads.
type scrubJob struct {
	f     fs.Fs
	every time.Duration
	name  string // the remote, redacted, for the report and the log
	log   *slog.Logger
	m     *metrics.Metrics

	mu   sync.Mutex
	last status.Scrub
}

// startScrubJob starts the job when cfg.scrubInterval > 0 and returns it
// (nil when off) with the function that stops it: it cancels a run in
// progress and waits for it to end.
func startScrubJob(ctx context.Context, w *wired) (job *scrubJob, stop func()) {
	every := w.cfg.scrubInterval
	if every <= 0 {
		return nil, func() {}
	}
	job = &scrubJob{f: w.remote, every: every, name: redactText(fs.ConfigString(w.remote)),
		log: w.log.With("job", "scrub"), m: w.metrics, last: status.Scrub{Interval: status.Seconds(every)}}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { job.loop(ctx) })
	job.log.Info("background scrub on", "interval", every, "first_run", time.Now().Add(every).UTC().Format(time.RFC3339))
	return job, func() { cancel(); wg.Wait() }
}

// loop runs one scrub every interval, the first one interval after the
// start (a restart does not scrub again at once), and the next one
// interval after the previous one ended, so runs never overlap.
func (j *scrubJob) loop(ctx context.Context) {
	t := time.NewTimer(j.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j.runOnce(ctx)
		t.Reset(j.every)
	}
}

// runOnce scrubs the remote once; a run cut by the shutdown is dropped,
// so the last complete run stays on the page and in the metrics.
func (j *scrubJob) runOnce(ctx context.Context) {
	j.setRunning(true)
	defer j.setRunning(false)
	// The scrub logs one WARN line per finding and per object error.
	rep, err := scrub.Run(ctx, j.f, scrub.Options{Name: j.name, Logger: j.log})
	if rep.Stopped { // ctx ended during the run: the shutdown
		j.log.Info("scrub stopped by the shutdown", "objects_checked", rep.Objects)
		return
	}
	end := time.Now()
	j.m.ObserveScrub(rep, end)
	j.record(rep, err, end)
	level := slog.LevelInfo
	if rep.Outcome != scrub.Clean {
		level = slog.LevelWarn
	}
	attrs := []any{"outcome", rep.Outcome, "repositories", len(rep.Repositories), "objects", rep.Objects,
		"findings", len(rep.Findings), "unverified", rep.Unverified, "errors", rep.ErrorCount, "duration", rep.Duration.Round(time.Millisecond)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	if rep.NoRemoteHash != "" {
		attrs = append(attrs, "no_sha256", rep.NoRemoteHash)
	}
	j.log.Log(ctx, level, "scrub finished", attrs...)
}

func (j *scrubJob) setRunning(on bool) {
	j.mu.Lock()
	j.last.Running = on
	j.mu.Unlock()
}

// record keeps rep as the status page's last run.
func (j *scrubJob) record(rep *scrub.Report, err error, end time.Time) {
	s := status.Scrub{Interval: status.Seconds(j.every), Duration: status.Seconds(rep.Duration),
		Outcome: string(rep.Outcome), Repositories: len(rep.Repositories), Objects: rep.Objects,
		Unverified: rep.Unverified, Errors: rep.ErrorCount, FindingCount: len(rep.Findings)}
	end = end.UTC()
	s.LastRun = &end
	if err != nil {
		s.Error = redactText(err.Error())
	}
	for _, f := range rep.Findings[:min(len(rep.Findings), status.MaxScrubFindings)] {
		s.Findings = append(s.Findings, status.ScrubFinding{Kind: string(f.Kind), Path: f.Path, Detail: f.Detail})
	}
	j.mu.Lock()
	s.Running = j.last.Running
	j.last = s
	j.mu.Unlock()
}

// Status is the job's state for the status page.
func (j *scrubJob) Status() status.Scrub {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.last
	s.Findings = append([]status.ScrubFinding(nil), s.Findings...)
	return s
}

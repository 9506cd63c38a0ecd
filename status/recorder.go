// Package status serves steadyrest's status page: one server-rendered
// HTML page (and the same data as JSON) that tells a person whether their
// repositories are safe right now. Of steadyrest's packages it imports
// only health, whose tracker it reads: the command feeds a Recorder from
// its hooks and hands the handler the overlay's state through a function.
package status

import (
	"sync"
	"time"
)

// window is how far back the page looks: one minute per bucket.
const (
	window  = time.Hour
	buckets = int(window / time.Minute)
)

// minuteStats is what one minute saw.
type minuteStats struct {
	minute int64 // unix minute this bucket holds; stale buckets are skipped

	requests, errors int // per repository
	createN, deleteN int // lag samples
	createMax        time.Duration
	deleteMax        time.Duration
	createSum        time.Duration
	deleteSum        time.Duration
}

// ring is a last-hour series of minute buckets.
type ring [buckets]minuteStats

// at returns the bucket for t, reset if it held an older minute.
func (r *ring) at(t time.Time) *minuteStats {
	m := t.Unix() / 60
	b := &r[m%int64(buckets)]
	if b.minute != m {
		*b = minuteStats{minute: m}
	}
	return b
}

// repoState is what the recorder knows of one repository.
type repoState struct {
	minutes          ring
	retiredByTimeout int
	lastReapErr      string
	lastReapErrAt    time.Time
}

// errorKind counts one kind of remote failure.
type errorKind struct {
	count  int
	last   string
	lastAt time.Time
}

// Recorder keeps what the page shows that no other part keeps: requests
// and errors per repository over the last hour, the remote's lag over the
// last hour, remote errors by kind, and per repository the reaper's last
// error and the retirements by timeout. It is safe for concurrent use and
// its hooks are cheap.
//
// Its memory is bounded whatever paths clients choose: a repository gets
// an entry of its own (~6 KB) only once it is known to exist, and only if
// the cap admits it; the rest share one entry, "other repositories".
type Recorder struct {
	now   func() time.Time
	admit func(repo string) bool

	mu     sync.Mutex
	repos  map[string]*repoState
	others repoState
	lag    ring
	errors map[string]*errorKind
}

// NewRecorder returns an empty Recorder whose repositories admit bounds:
// the command passes the metrics' cap on the repository label
// (metrics.RepoCap), so both name the same number of repositories.
func NewRecorder(admit func(repo string) bool) *Recorder {
	return &Recorder{now: time.Now, admit: admit, repos: map[string]*repoState{}, errors: map[string]*errorKind{}}
}

// entry returns repo's own entry, made if repo exists and is admitted, or
// the shared one.
func (r *Recorder) entry(repo string, exists bool) *repoState {
	if s := r.repos[repo]; s != nil {
		return s
	}
	if !exists || !r.admit(repo) {
		return &r.others
	}
	s := &repoState{}
	r.repos[repo] = s
	return s
}

// Request records one finished API request of repo; a 5xx answer counts
// as an error (4xx are the client's business, and 404s are routine).
// exists says the answer shows that the repository exists (the command
// passes a 2xx answer that is not a listing): only such an answer gives a
// repository an entry, so that asking for made-up repositories keeps
// nothing. Until then its 5xx answers count among the other repositories
// (they may be the remote's failure) and its 4xx answers are dropped.
func (r *Recorder) Request(repo string, status int, exists bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.entry(repo, exists)
	if s == &r.others && !exists && status < 500 {
		return
	}
	b := s.minutes.at(r.now())
	b.requests++
	if status >= 500 {
		b.errors++
	}
}

// Visible records how long the remote took to show a write ("create") or
// a delete ("delete") after steadyrest acknowledged it.
func (r *Recorder) Visible(kind string, lag time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.lag.at(r.now())
	switch kind {
	case "create":
		b.createN++
		b.createSum += lag
		b.createMax = max(b.createMax, lag)
	case "delete":
		b.deleteN++
		b.deleteSum += lag
		b.deleteMax = max(b.deleteMax, lag)
	}
}

// RemoteError records a failed remote call by kind ("transient",
// "permission denied", …); not-found answers are routine on a lagging
// remote and are not passed here.
func (r *Recorder) RemoteError(kind, op string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errors[kind]
	if e == nil {
		e = &errorKind{}
		r.errors[kind] = e
	}
	e.count++
	e.last, e.lastAt = op+": "+err.Error(), r.now()
}

// ReapFailed records that the reaper could not remove an object of repo
// at at: the page shows each repository's last such error.
func (r *Recorder) ReapFailed(repo string, err error, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.objectRepo(repo)
	s.lastReapErr, s.lastReapErrAt = err.Error(), at
}

// RetiredByTimeout records that the record of an object of repo retired
// at the settle window without the remote confirming it: where the
// guarantee may have lapsed.
func (r *Recorder) RetiredByTimeout(repo string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objectRepo(repo).retiredByTimeout++
}

// objectRepo returns the entry of repo, which holds an object the
// overlay reported: the repository exists.
func (r *Recorder) objectRepo(repo string) *repoState {
	return r.entry(repo, true)
}

package overlay

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
	"golang.org/x/sync/singleflight"
)

// Options configure a Store.
type Options struct {
	// StateDir holds the journal. Empty keeps records in memory only: a
	// restart then forgets them (tests, or a remote that does not lag).
	StateDir string
	// SettleWindow is the longest a record waits for the remote to confirm
	// it before it retires anyway (counted and logged). Default 10m.
	SettleWindow time.Duration
	// ContentCacheBytes bounds the cache of recent small uploads (default
	// 64 MiB; negative disables it). ContentMaxObject is the largest object
	// cached (default 1 MiB).
	ContentCacheBytes int64
	ContentMaxObject  int64
	// SpoolBytes bounds the spool (spool.go): the bytes of recent uploads
	// above ContentMaxObject, kept in StateDir/spool so that reads of
	// fresh packs do not wait for the remote. 0 (or no StateDir, or
	// rclone's local backend, which serves a new file at once) turns it
	// off.
	SpoolBytes int64
	// readRetry bounds how long a read of a recent upload retries the
	// remote when neither the content cache nor the upload's handle can
	// serve it. Default 2m: well under restic's 5-minute watchdog.
	// Unexported: only tests shorten it.
	readRetry time.Duration
	// LockUploadDelay, when positive, makes lock uploads write-behind: a
	// lock is acknowledged once the overlay holds it durably, and reaches
	// the remote only if it still exists this long after; a lock deleted
	// sooner costs the remote nothing. 0 uploads every lock before the
	// acknowledgement.
	LockUploadDelay time.Duration
	// Shared, when set, is the URL of a Redis (redis://, rediss://,
	// unix://) holding the records instead of the local journal, shared
	// by every instance given the same URL and remote: the guarantee then
	// holds across them (see sharedRecords).
	Shared string
	// AppendOnly is the repository policy of --append-only, which the
	// background obeys as the API does (policy.go): whatever a journal or
	// Redis record asks, it removes from the remote only locks and the
	// uploads it refused itself.
	AppendOnly bool
	// records replaces the local overlay (tests: two stores sharing one).
	records recordStore
	// Observer receives remote-call timings and overlay events (metrics,
	// status page).
	Observer Observer
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Observer is told what the store does, for metrics and the status page:
// they learn it here, never from the store's logs. Calls must be cheap
// and must not call back into the store. Every string argument comes from
// one of the vocabularies in vocab.go (Ops, Results, VisibleKinds, Events).
type Observer interface {
	// RemoteOp reports one call to the remote: op is an Op* name, result
	// its outcome (a Result* class).
	RemoteOp(op, result string, d time.Duration)
	// Event counts an overlay event (an Event* name).
	Event(name string)
	// Visible reports how long the remote took to show a write
	// (VisibleCreate) or a delete (VisibleDelete) after we acknowledged it.
	Visible(kind string, lag time.Duration)
	// Retry counts a remote call the store retries itself (an Op* name).
	Retry(op string)
	// RemoteFailed reports a remote call that failed other than with
	// not-found: kind is the store's class of the failure ("transient",
	// "permission denied", "insufficient storage", "permanent").
	RemoteFailed(op, kind string, err error)
	// SharedOp reports one call to the shared overlay (an Overlay*
	// name), with ResultOK or ResultError.
	SharedOp(op, result string, d time.Duration)
	// Object reports an event about one object, after Event has counted
	// it: what the status page keeps per repository (reaps, their
	// failures, retirements) comes from here, not from the log.
	Object(e ObjectEvent)
}

// ObjectEvent is an overlay event about one object.
type ObjectEvent struct {
	Event string    // EventReapDone, EventReapFailed, EventDeleteAbsorbed, EventRetiredConfirmed or EventRetiredTimeout
	Key   string    // the object's remote path ("repo/locks/<id>")
	Repo  string    // the repository it belongs to ("" for the root)
	Err   error     // the remote's answer, with EventReapFailed and EventDeleteAbsorbed
	At    time.Time // when it happened
}

// Stats is a snapshot of the store's state, for metrics and tests.
type Stats struct {
	Created, Tombstones, PendingReaps int
	OldestPendingReap                 time.Duration // age of the oldest pending reap, 0 if none
	ContentBytes                      int64
	SpoolBytes                        int64 // held by the spool's entries
	ContentHits, ContentMisses        uint64
	JournalBytes                      int64
	Events                            map[string]uint64
	// Shared tells that the records live in a shared overlay; Leader that
	// this instance holds its background lease (it reaps and confirms for
	// all); LeasesHeld counts the per-name leases it holds now.
	Shared, Leader bool
	LeasesHeld     int
}

// Store presents the repositories below one rclone remote path to the
// protocol layer, strongly consistent even when the remote is not (see
// the consistency contract in the README). It is safe for concurrent use.
type Store struct {
	f      fs.Fs
	log    *slog.Logger
	obs    Observer
	opt    Options
	verify hash.Type // the remote's hash used to confirm uploads, or hash.None

	ov      recordStore // the records: the only state the contract rests on
	marker  marked      // ov's marker when it is shared, else nil (capabilities.go)
	leases  leased      // ov's leases when it has them, else nil
	content *contentCache
	spool   *spool // nil when off
	lists   singleflight.Group
	handles *handleCache

	listMu    sync.Mutex
	listCache map[string]listing // dir -> the last remote listing (see listCacheTTL)
	events    map[string]*atomic.Uint64
	lag       lagState     // observations of pending records, for the lag (lag.go)
	usage     usage        // what the repositories hold, for a quota (usage.go)
	folders   *folderSizes // the objects of each data prefix folder (foldersizes.go)

	confirmMu sync.Mutex
	pace      map[string]*confirmState // dir -> when the confirmer lists it next
	lastProbe [tombstone + 1]time.Time // by recKind: the confirmer's last look to measure that kind's lag
	// lookupLists: the remote answers a lookup by listing the folder
	// (lookupListsFolder), so the confirmer always lists.
	lookupLists bool

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	cleanups sync.WaitGroup // clean-ups of rejected uploads (reject.go)
	bgCtx    context.Context
	bgCancel context.CancelFunc // cancels bgCtx at Stop
}

// DefaultSettleWindow is the settle window when Options leave it zero:
// far above any lag seen on pCloud (seconds), so that retirement by
// timeout stays the rare exception it is counted as.
const DefaultSettleWindow = 10 * time.Minute

// New returns a Store over f, reloading the journal from opt.StateDir.
func New(f fs.Fs, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.SettleWindow <= 0 {
		opt.SettleWindow = DefaultSettleWindow
	}
	if opt.ContentCacheBytes == 0 {
		opt.ContentCacheBytes = 64 << 20
	}
	if opt.ContentMaxObject <= 0 {
		opt.ContentMaxObject = 1 << 20
	}
	if opt.readRetry <= 0 {
		opt.readRetry = 2 * time.Minute
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	s := &Store{
		f:           f,
		log:         opt.Logger,
		obs:         opt.Observer,
		opt:         opt,
		verify:      confirmHash(f.Hashes()),
		content:     newContentCache(opt.ContentCacheBytes, opt.ContentMaxObject),
		handles:     newHandleCache(),
		listCache:   map[string]listing{},
		events:      map[string]*atomic.Uint64{},
		pace:        map[string]*confirmState{},
		folders:     newFolderSizes(),
		lookupLists: lookupListsFolder(f),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	for _, e := range eventNames {
		s.events[e] = new(atomic.Uint64)
	}
	switch {
	case opt.records != nil:
		s.ov = opt.records
	case opt.Shared != "":
		ov, err := openSharedRecords(opt.Shared, fs.ConfigString(f), opt.SettleWindow, s.log, s.obs, s.event)
		if err != nil {
			return nil, err
		}
		s.ov = ov
	default:
		ov, err := openLocalRecords(opt.StateDir, fs.ConfigString(f), s.log, s.content.add)
		if err != nil {
			return nil, err
		}
		s.ov = ov
	}
	s.marker, _ = s.ov.(marked)
	s.leases, _ = s.ov.(leased)
	// Shared records are not reloaded: they stay where they were.
	if j, ok := s.ov.(journaled); ok {
		if path, lost := j.journalLost(); lost {
			s.event(EventJournalLost, 1)
			s.log.Error("the journal was missing or empty although it had existed (its marker is there): the records it held are lost, and writes and deletes of the last settle window may show wrongly until the remote catches up (a lock acknowledged but not yet uploaded is gone)",
				"journal", path)
		}
		if c := s.ov.counts(); c.created+c.tombstones+c.reaps > 0 {
			s.log.Info("overlay records reloaded from the journal", "created", c.created, "tombstones", c.tombstones, "pending_reaps", c.reaps)
		}
	}
	// A local folder serves a new file at once: the spool would only copy
	// it (+0.7 CPU-seconds and a second write-back per GiB, measured).
	// Wrappers such as lag do not pass IsLocal on, so lagging test
	// remotes keep their spool.
	if opt.StateDir != "" && !f.Features().IsLocal {
		s.spool = openSpool(filepath.Join(opt.StateDir, spoolDirName), opt.SpoolBytes, opt.SettleWindow, s.log)
	}
	go s.background()
	return s, nil
}

// OverlayID identifies the overlay this Store's records live in, equal for
// every instance that shares it: the shared overlay's marker id; "" for
// the local journal, which no other instance shares (or a shared overlay
// whose Redis has not answered yet). PeerOptions.OverlayID reads it.
func (s *Store) OverlayID() string {
	if s.marker != nil {
		return s.marker.id()
	}
	return ""
}

// Stop ends the background work (reaper, confirmer, settle-window valve)
// at once, cancelling their remote calls, while the Store keeps serving
// requests: the first step of a shutdown, before the requests in flight
// finish. Every record stays in the journal for the next start.
func (s *Store) Stop() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.bgCancel()
	})
	<-s.done
}

// Close stops the background work and closes the journal. Records stay
// in the journal for the next start; writes after Close fail.
func (s *Store) Close() error {
	s.Stop()
	s.waitCleanups()
	s.spool.close()
	return s.ov.close()
}

// Stats returns a snapshot of the overlay's state.
func (s *Store) Stats() Stats {
	c := s.ov.counts()
	st := Stats{Created: c.created, Tombstones: c.tombstones, PendingReaps: c.reaps, ContentBytes: s.content.size(), SpoolBytes: s.spool.size(),
		ContentHits: s.content.hits.Load(), ContentMisses: s.content.misses.Load(), JournalBytes: c.journalBytes,
		Events: map[string]uint64{}}
	st.Shared = s.marker != nil
	if s.leases != nil {
		st.Leader, st.LeasesHeld = s.leases.leading(), s.leases.leasesHeld()
	}
	if !c.oldestReap.IsZero() {
		st.OldestPendingReap = time.Since(c.oldestReap)
	}
	for name, v := range s.events {
		st.Events[name] = v.Load()
	}
	return st
}

func (s *Store) event(name string, n int) {
	if n <= 0 {
		return
	}
	s.events[name].Add(uint64(n))
	for range n {
		s.obs.Event(name)
	}
}

// objectEvent counts an event about the object key and reports it, with
// the object, to the observer.
func (s *Store) objectEvent(name string, key objectKey, err error, at time.Time) {
	s.event(name, 1)
	s.obs.Object(ObjectEvent{Event: name, Key: key.path, Repo: key.repo(), Err: err, At: at})
}

// remote times one call to the remote and reports it.
func (s *Store) remote(op string, fn func() error) error {
	return remoteCall(s.obs, s.log, op, fn)
}

// remoteCall times one call to the remote and reports it to obs.
func remoteCall(obs Observer, log *slog.Logger, op string, fn func() error) error {
	start := time.Now()
	err := fn()
	obs.RemoteOp(op, resultOf(err), time.Since(start))
	if err != nil && !isNotFound(err) {
		k := classify(err)
		obs.RemoteFailed(op, k.String(), err)
		if k != failTransient {
			// One clear line per refused call; these are never retried.
			log.Error("remote refused the operation: "+k.String()+"; not retrying", "op", op, "kind", k.String(), "err", err)
		}
	}
	return err
}

// stat looks key up on the remote.
func (s *Store) stat(ctx context.Context, key string) (obj fs.Object, err error) {
	err = s.remote(OpStat, func() (err error) {
		obj, err = s.f.NewObject(ctx, key)
		return err
	})
	return obj, err
}

// confirmHash picks the hash the remote keeps that we compute while streaming
// an upload, to confirm the remote stored what we sent. SHA-256 first: we
// compute it anyway to check object names.
func confirmHash(set hash.Set) hash.Type {
	for _, t := range []hash.Type{hash.SHA256, hash.MD5, hash.SHA1} {
		if set.Contains(t) {
			return t
		}
	}
	return hash.None
}

// CreateRepo makes the folders of a new repository. It is idempotent.
// data/ prefix folders are left to the first upload: on bucket-style remotes
// folders do not exist, and on pCloud 256 folder creations would cost 256
// API calls for nothing.
func (s *Store) CreateRepo(ctx context.Context, repo string) error {
	if err := (Handle{Repo: repo, Type: Config}).Validate(); err != nil {
		return err
	}
	for _, t := range Types[1:] {
		dir := typeDir(repo, t)
		if err := s.remote(OpMkdir, func() error { return s.f.Mkdir(ctx, dir) }); err != nil {
			return &RemoteError{Op: fmt.Sprintf("create repository folder %q", dir), Err: err}
		}
	}
	return nil
}

type nopObserver struct{}

func (nopObserver) RemoteOp(string, string, time.Duration) {}
func (nopObserver) Event(string)                           {}
func (nopObserver) Visible(string, time.Duration)          {}
func (nopObserver) Retry(string)                           {}
func (nopObserver) RemoteFailed(string, string, error)     {}
func (nopObserver) SharedOp(string, string, time.Duration) {}
func (nopObserver) Object(ObjectEvent)                     {}

package overlay

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
)

// Second-instance detection.
//
// The guarantee holds for the clients of one instance, or of instances
// that share one overlay. Two instances that serve one remote path each
// with its own overlay break it silently: a lock written through one is
// missing from the other's listings while the remote lags. So every
// instance keeps a heartbeat object on the remote, at
// .steadyrest/instances/<name> below the path it serves (ReservedDir is
// refused as a repository name, so no repository can hold or list it),
// and lists that folder once a period:
//
//   - The name says all a peer needs: "<instance>_<overlay>_<period>_<host>",
//     with a random instance id (kept in the state folder beside the
//     journal, which only one process can hold, so that a restart after a
//     crash takes over its own old heartbeat instead of warning about a
//     "peer" for three periods; new at each start without a state
//     folder), the overlay's tag ("local" without a shared overlay, else
//     a hash of the shared overlay's id) and the writer's heartbeat
//     period. Its contents (a line of JSON for people looking at the
//     remote) are never read, so a round costs one upload (an update of
//     our object in place) and one listing.
//   - Liveness comes from the listed modification time, which the writer
//     sets at upload: a heartbeat is live while it is younger than
//     liveFactor (3) of its writer's periods, one period between writes
//     plus two of remote lag or clock skew. Because clocks of two hosts
//     can disagree by more, a heartbeat whose time changed between two of
//     our listings is live too, for as long again, measured by our clock.
//   - Two instances share an overlay when both overlay tags are equal and
//     not "local" (the tag is read every round: when the shared overlay's
//     id changes, the heartbeat is renamed, and one instance id under two
//     names counts once); any other live instance is counted (PeerInstances),
//     logged at ERROR at once and every remindPeriods periods while it
//     lasts, and shown by the command on /readyz, /metrics and /status.
//   - Close removes our heartbeat, so a stopped instance stops counting at
//     once. A killed one's stops counting after liveFactor periods; its
//     object is removed by any instance that has watched it unchanged for
//     max(staleMin, staleFactor periods). The empty folders stay: another instance may be
//     writing into them, and on remotes that cache folder ids (pCloud,
//     Drive, OneDrive) removing a folder under it would fail its uploads.
//
// Instances with heartbeats off (no PeerWatch) neither write nor look,
// so they are invisible to others as well.

const (
	// DefaultHeartbeatInterval is the command's heartbeat period.
	DefaultHeartbeatInterval = time.Minute

	peersDir = ReservedDir + "/instances"
	// localOverlay is the overlay tag of an instance without a shared
	// overlay: it shares with no one.
	localOverlay = "local"
	// liveFactor is how many of its writer's periods a heartbeat stays live.
	liveFactor = 3
	// remindPeriods: while the same peers are seen, the error is repeated
	// this many periods apart (10 minutes at the default period).
	remindPeriods = 10
	// staleFactor and staleMin: a heartbeat we have watched unchanged for
	// max(staleMin, staleFactor of its periods) is a killed instance's
	// leftover, and removed.
	staleFactor = 10
	staleMin    = time.Hour
	// heartbeatRemoveTimeout bounds the removal of our heartbeat at Close,
	// so a slow remote cannot hold up a shutdown.
	heartbeatRemoveTimeout = 3 * time.Second
)

// Peer is another instance whose heartbeat is live on this remote path.
type Peer struct {
	Instance string // random id, new at each start
	Host     string
	// SharesOverlay: both use the same shared overlay, so the guarantee
	// holds between them.
	SharesOverlay bool
	Period        time.Duration // its heartbeat period
	ModTime       time.Time     // its last heartbeat, by its clock
}

func (p Peer) String() string {
	return p.Host + " (instance " + p.Instance + ")"
}

// live reports whether a heartbeat last written at mod (the writer's
// clock), last seen changing at changed (our clock; zero if never), is
// live at now.
func live(now, mod, changed time.Time, period time.Duration) bool {
	margin := liveFactor * period
	age := now.Sub(mod)
	if age < 0 {
		age = -age // a writer whose clock runs ahead
	}
	return age < margin || !changed.IsZero() && now.Sub(changed) < margin
}

// seenBeat is what we remember of one listed heartbeat between rounds.
type seenBeat struct {
	mod     time.Time // its modification time at the last listing
	since   time.Time // when (our clock) we first listed it with mod
	changed time.Time // when we saw mod change; zero if never
}

// PeerOptions configure a PeerWatch.
type PeerOptions struct {
	// Interval is the heartbeat period: how often the watch writes this
	// instance's heartbeat and lists the others'. Must be positive; the
	// command's default is DefaultHeartbeatInterval.
	Interval time.Duration
	// StateDir keeps the instance id (beside the journal); empty makes a
	// new id at each start.
	StateDir string
	// OverlayID returns the id of the overlay this instance's records
	// live in (Store.OverlayID), read every round; nil or "" for one no
	// other instance shares.
	OverlayID func() string
	// Observer receives the remote-call timings; nil: none.
	Observer Observer
	// Logger receives the watch's logs; nil means slog.Default().
	Logger *slog.Logger
}

// PeerWatch detects other instances serving the same remote path: it
// writes this instance's heartbeat and judges the others' (see above). It
// uses only the remote, the log and the overlay id, so its owner (the
// command, or a library user) runs it beside the Store: Start, then Stop
// when the shutdown begins and Close at the end. A nil *PeerWatch is
// detection off: it counts no peers.
type PeerWatch struct {
	f         fs.Fs
	log       *slog.Logger
	obs       Observer
	overlayID func() string
	interval  time.Duration
	self      heartbeatName
	started   time.Time

	ctx      context.Context // the loop's calls; cancelled at Stop
	cancel   context.CancelFunc
	stop     chan struct{}
	stopOnce sync.Once
	running  atomic.Bool   // Start was called
	done     chan struct{} // closed when the loop has ended

	count atomic.Int64           // live peers that do not share our overlay
	live  atomic.Pointer[[]Peer] // every live peer; readers do not wait for a round

	mu       sync.Mutex // serializes rounds and guards what follows
	obj      fs.Object  // our heartbeat, updated in place (no duplicates on remotes that allow them)
	tried    bool       // a heartbeat of ours may be on the remote
	seen     map[string]seenBeat
	removed  map[string]time.Time // leftovers we removed (with their time), which a lagging listing may still show
	warned   string               // the peers last logged at ERROR, "" if none
	warnedAt time.Time            // when
}

// NewPeerWatch returns a watch of f's remote path; Start starts it.
func NewPeerWatch(f fs.Fs, opt PeerOptions) (*PeerWatch, error) {
	if opt.Interval <= 0 {
		return nil, fmt.Errorf("heartbeat: the interval must be positive, not %s", opt.Interval)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	if opt.OverlayID == nil {
		opt.OverlayID = func() string { return "" }
	}
	id, err := instanceID(opt.StateDir)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	w := &PeerWatch{
		f:         f,
		log:       opt.Logger,
		obs:       opt.Observer,
		overlayID: opt.OverlayID,
		interval:  opt.Interval,
		self:      heartbeatName{instance: id, overlay: overlayTag(opt.OverlayID()), period: opt.Interval, host: nameHost(host)},
		started:   time.Now(),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		seen:      map[string]seenBeat{},
		removed:   map[string]time.Time{},
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	return w, nil
}

// Start runs a round at once (in the background, so a slow remote does
// not slow the start) and then every period, until Stop.
func (w *PeerWatch) Start() {
	if w == nil || w.running.Swap(true) {
		return
	}
	go w.loop()
}

// Stop ends the rounds at once, cancelling their remote calls: the first
// step of a shutdown. The heartbeat stays until Close.
func (w *PeerWatch) Stop() {
	if w == nil {
		return
	}
	w.stopOnce.Do(func() {
		close(w.stop)
		w.cancel()
	})
	if w.running.Load() {
		<-w.done
	}
}

// Close stops the watch and removes this instance's heartbeat (within a
// few seconds, best effort), so that peers stop counting it at once.
func (w *PeerWatch) Close() {
	if w == nil {
		return
	}
	w.Stop()
	w.removeHeartbeat()
}

// PeerInstances is the number of other live instances on this remote path
// that do not share this instance's overlay, as of the last round: 0 is
// healthy, and always 0 with detection off (a nil watch).
func (w *PeerWatch) PeerInstances() int {
	if w == nil {
		return 0
	}
	return int(w.count.Load())
}

// Peers lists the other live instances on this remote path seen at the
// last round, those sharing this instance's overlay included.
func (w *PeerWatch) Peers() []Peer {
	if w == nil {
		return nil
	}
	if p := w.live.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

func (w *PeerWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.round(w.ctx, time.Now())
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// round writes our heartbeat, lists everyone's, and reports what
// changed.
func (w *PeerWatch) round(ctx context.Context, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if tag := overlayTag(w.overlayID()); tag != w.self.overlay {
		// The shared overlay's id changed (a shared store that lost its
		// data): our heartbeat's name must say so.
		w.removeOwnHeartbeat(ctx)
		w.self.overlay = tag
	}
	// The listing comes first: it also tells beat whether our heartbeat
	// is there already, and whether the folder is.
	entries, missing, listErr := w.listHeartbeats(ctx)
	if err := w.beat(ctx, now, heartbeatListing{entries: entries, missing: missing, ok: listErr == nil}); err != nil && ctx.Err() == nil {
		// Not fatal: peers stop seeing us after liveFactor periods, but we
		// can still see them.
		w.log.Warn("heartbeat: could not write this instance's heartbeat", "object", path.Join(peersDir, w.self.String()), "err", err)
	}
	if listErr != nil {
		if ctx.Err() == nil {
			w.log.Warn("heartbeat: could not list other instances' heartbeats; keeping the last count", "folder", peersDir, "err", listErr)
		}
		return
	}
	peers := w.peersIn(ctx, now, entries)
	w.live.Store(&peers)
	n := 0
	for _, p := range peers {
		if !p.SharesOverlay {
			n++
		}
	}
	w.count.Store(int64(n))
	w.reportPeers(now, peers)
}

// peersIn turns a listing into the live peers, updating what we remember
// of each heartbeat, and removes those a killed instance left behind.
func (w *PeerWatch) peersIn(ctx context.Context, now time.Time, entries fs.DirEntries) []Peer {
	// A name listed twice (a lagging remote still listing a removed
	// object beside its new one; remotes that allow duplicates) counts
	// once, by its newest time.
	type beat struct {
		o   fs.Object
		mod time.Time
	}
	latest := map[string]beat{}
	for _, e := range entries {
		o, ok := e.(fs.Object)
		if !ok {
			continue
		}
		name, mod := path.Base(o.Remote()), o.ModTime(ctx)
		if b, ok := latest[name]; ok && !mod.After(b.mod) {
			continue
		}
		latest[name] = beat{o, mod}
	}
	var peers []Peer
	listed := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(latest)) {
		o, mod := latest[name].o, latest[name].mod
		n, ok := parseHeartbeatName(name)
		if !ok || name == w.self.String() {
			continue
		}
		listed[name] = true
		if gone, ok := w.removed[name]; ok && gone.Equal(mod) {
			continue // written again, it would have another time
		}
		delete(w.removed, name)
		if n.instance == w.self.instance {
			// Ours, from a start under another host name or period.
			w.removeStaleHeartbeat(ctx, o, mod)
			continue
		}
		b, known := w.seen[name]
		switch {
		case !known:
			b = seenBeat{mod: mod, since: now}
		case !mod.Equal(b.mod):
			b = seenBeat{mod: mod, since: now, changed: now}
		}
		w.seen[name] = b
		if live(now, mod, b.changed, n.period) {
			p := Peer{Instance: n.instance, Host: n.host, Period: n.period, ModTime: mod,
				SharesOverlay: n.overlay != localOverlay && n.overlay == w.self.overlay}
			// One instance under two names (it renamed its heartbeat, and
			// the old one is not gone yet) is one peer: its newest name.
			if i := slices.IndexFunc(peers, func(q Peer) bool { return q.Instance == p.Instance }); i >= 0 {
				if mod.After(peers[i].ModTime) {
					peers[i] = p
				}
				continue
			}
			peers = append(peers, p)
			continue
		}
		if now.Sub(b.since) >= max(staleMin, staleFactor*n.period) {
			w.removeStaleHeartbeat(ctx, o, mod)
		}
	}
	for name := range w.seen {
		if _, gone := w.removed[name]; !listed[name] || gone {
			delete(w.seen, name) // gone from the remote, or by our hand
		}
	}
	for name := range w.removed {
		if !listed[name] {
			delete(w.removed, name) // the listing agrees at last
		}
	}
	return peers
}

// reportPeers logs the peers that break the guarantee: at once when they
// change, and every remindPeriods periods while they last.
func (w *PeerWatch) reportPeers(now time.Time, peers []Peer) {
	var bad []string
	for _, p := range peers {
		if !p.SharesOverlay {
			bad = append(bad, p.String())
		}
	}
	slices.Sort(bad)
	key := strings.Join(bad, ", ")
	switch {
	case key == "" && w.warned != "":
		w.log.Info("heartbeat: no other steadyrest instance without a shared overlay is seen on this remote path any more")
	case key == "":
	case key != w.warned || now.Sub(w.warnedAt) >= remindPeriods*w.interval:
		w.log.Error("another steadyrest instance serves this remote path without a shared overlay: "+
			"the consistency guarantee does not hold between them (a lock written through one can be missing from the other's listings); "+
			"run one instance per remote path, or give every instance the same --shared",
			"peer_instances", len(bad), "peers", key, "this_instance", w.self.host+" (instance "+w.self.instance+")", "heartbeats", peersDir)
		w.warnedAt = now
	}
	w.warned = key
}

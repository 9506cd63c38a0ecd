package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"
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
// Instances with heartbeats off (Options.HeartbeatInterval 0) neither
// write nor look, so they are invisible to others as well.

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

// heartbeatName is what a heartbeat object's name encodes.
type heartbeatName struct {
	instance, overlay, host string
	period                  time.Duration
}

func (n heartbeatName) String() string {
	return n.instance + "_" + n.overlay + "_" + n.period.String() + "_" + n.host
}

// parseHeartbeatName reads a heartbeat object's name; ok is false for
// anything else (a stray file, a future format), which is ignored.
func parseHeartbeatName(s string) (n heartbeatName, ok bool) {
	parts := strings.SplitN(s, "_", 4)
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[3] == "" {
		return n, false
	}
	d, err := time.ParseDuration(parts[2])
	if err != nil || d <= 0 {
		return n, false
	}
	return heartbeatName{instance: parts[0], overlay: parts[1], period: d, host: parts[3]}, true
}

// overlayTag is what a heartbeat name says of an overlay id: "local" for
// none, else a short hash, which fits any file name and tells a reader of
// the remote nothing about the shared store.
func overlayTag(id string) string {
	if id == "" {
		return localOverlay
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// nameHost makes a host name safe in an object name: letters, digits, '.'
// and '-' only ('_' separates the name's fields), at most 40 characters.
func nameHost(h string) string {
	h = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, h)
	if len(h) > 40 {
		h = h[:40]
	}
	if h == "" {
		return "unknown"
	}
	return h
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

// peerWatch is the heartbeat state of a Store with heartbeats on.
type peerWatch struct {
	interval time.Duration
	self     heartbeatName
	started  time.Time
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

func newPeerWatch(interval time.Duration, overlayID, stateDir string) (*peerWatch, error) {
	id, err := instanceID(stateDir)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	return &peerWatch{
		interval: interval,
		self:     heartbeatName{instance: id, overlay: overlayTag(overlayID), period: interval, host: nameHost(host)},
		started:  time.Now(),
		done:     make(chan struct{}),
		seen:     map[string]seenBeat{},
		removed:  map[string]time.Time{},
	}, nil
}

// instanceIDFile holds the instance id in the state folder.
const instanceIDFile = "instance-id"

// instanceID returns the id kept in stateDir, making it on the first
// start; without a state folder, a new one.
func instanceID(stateDir string) (string, error) {
	p := filepath.Join(stateDir, instanceIDFile)
	if stateDir != "" {
		b, err := os.ReadFile(p)
		if id := strings.TrimSpace(string(b)); err == nil && len(id) == 16 && isHex(id) {
			return id, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("heartbeat: read instance id: %w", err)
		}
	}
	raw := make([]byte, 8)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("heartbeat: make instance id: %w", err)
	}
	id := hex.EncodeToString(raw)
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return "", fmt.Errorf("heartbeat: create state folder: %w", err)
		}
		// A torn write reads back as no id, and a new one is made.
		if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("heartbeat: keep instance id: %w", err)
		}
	}
	return id, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// overlayID identifies the overlay this Store's records live in, equal for
// every instance that shares it: the shared overlay's marker id; "" for
// the local journal, which no other instance shares (or a shared overlay
// whose Redis has not answered yet).
func (s *Store) overlayID() string {
	if s.marker != nil {
		return s.marker.id()
	}
	return s.opt.overlayID
}

// PeerInstances is the number of other live instances on this remote path
// that do not share this Store's overlay, as of the last heartbeat round:
// 0 is healthy, and always 0 with heartbeats off.
func (s *Store) PeerInstances() int {
	if s.peers == nil {
		return 0
	}
	return int(s.peers.count.Load())
}

// Peers lists the other live instances on this remote path seen at the
// last heartbeat round, those sharing this Store's overlay included.
func (s *Store) Peers() []Peer {
	if s.peers == nil {
		return nil
	}
	if p := s.peers.live.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// heartbeatLoop runs a round at once (in the background, so a slow remote
// does not slow the start) and then every period, until Stop.
func (s *Store) heartbeatLoop() {
	w := s.peers
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		s.peerRound(s.bgCtx, time.Now())
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// peerRound writes our heartbeat, lists everyone's, and reports what
// changed.
func (s *Store) peerRound(ctx context.Context, now time.Time) {
	w := s.peers
	w.mu.Lock()
	defer w.mu.Unlock()
	if tag := overlayTag(s.overlayID()); tag != w.self.overlay {
		// The shared overlay's id changed (a shared store that lost its
		// data): our heartbeat's name must say so.
		s.removeOwnHeartbeat(ctx)
		w.self.overlay = tag
	}
	// The listing comes first: it also tells beat whether our heartbeat
	// is there already, and whether the folder is.
	entries, missing, listErr := s.listHeartbeats(ctx)
	if err := s.beat(ctx, now, heartbeatListing{entries: entries, missing: missing, ok: listErr == nil}); err != nil && ctx.Err() == nil {
		// Not fatal: peers stop seeing us after liveFactor periods, but we
		// can still see them.
		s.log.Warn("heartbeat: could not write this instance's heartbeat", "object", path.Join(peersDir, w.self.String()), "err", err)
	}
	if listErr != nil {
		if ctx.Err() == nil {
			s.log.Warn("heartbeat: could not list other instances' heartbeats; keeping the last count", "folder", peersDir, "err", listErr)
		}
		return
	}
	peers := s.judge(ctx, now, entries)
	w.live.Store(&peers)
	n := 0
	for _, p := range peers {
		if !p.SharesOverlay {
			n++
		}
	}
	w.count.Store(int64(n))
	s.reportPeers(now, peers)
}

// heartbeatListing is what this round's listing of peersDir told beat.
type heartbeatListing struct {
	entries fs.DirEntries
	missing bool // the folder does not exist (no instance ever ran here)
	ok      bool // the listing answered; false: entries and missing say nothing
}

// own returns our heartbeat as listed (the newest, if a remote that
// allows duplicates lists two), or nil.
func (l heartbeatListing) own(ctx context.Context, name string) fs.Object {
	var own fs.Object
	for _, e := range l.entries {
		if o, ok := e.(fs.Object); ok && path.Base(o.Remote()) == name {
			if own == nil || o.ModTime(ctx).After(own.ModTime(ctx)) {
				own = o
			}
		}
	}
	return own
}

// beat uploads our heartbeat, updating the object of the last round in
// place. Without one (the first round, or after a failure) it takes ours
// from this round's listing, made just before, so that a heartbeat of an
// earlier start is updated rather than uploaded again, which makes a
// duplicate on remotes that allow two objects of one name (Drive); only
// when the listing failed does it look the name up instead. When the
// listing found no heartbeat folder at all (the first instance ever on
// this remote path), it creates ReservedDir before the upload: the
// upload then has only the last folder to create, where a backend that
// makes the parent of every upload (WebDAV: MKCOL) would first fail on
// the missing grandparent, probe it and create both, three calls more.
func (s *Store) beat(ctx context.Context, now time.Time, listed heartbeatListing) error {
	w := s.peers
	key := path.Join(peersDir, w.self.String())
	body, err := json.Marshal(map[string]any{
		"instance": w.self.instance, "host": w.self.host, "pid": os.Getpid(), "overlay": w.self.overlay,
		"period": w.interval.String(), "started": w.started.UTC().Format(time.RFC3339), "beat": now.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	body = append(body, '\n')
	info := object.NewStaticObjectInfo(key, now, int64(len(body)), true, nil, s.f)
	w.tried = true // even a failed upload may leave something
	if w.obj == nil {
		switch {
		case listed.ok:
			w.obj = listed.own(ctx, w.self.String())
		default:
			obj, err := s.stat(ctx, key)
			switch {
			case err == nil:
				w.obj = obj
			case !isNotFound(err):
				return fmt.Errorf("look up heartbeat: %w", err)
			}
		}
	}
	if w.obj != nil {
		err = s.remote(OpPut, func() error { return w.obj.Update(ctx, bytes.NewReader(body), info) })
		if err != nil {
			w.obj = nil // removed behind our back, perhaps: look again next round
			return fmt.Errorf("update heartbeat: %w", err)
		}
		return nil
	}
	if listed.ok && listed.missing {
		// Best effort: the upload makes the folders it lacks anyway.
		if err := s.remote(OpMkdir, func() error { return s.f.Mkdir(ctx, ReservedDir) }); err != nil {
			s.log.Debug("heartbeat: could not create the folder before the first upload", "folder", ReservedDir, "err", err)
		}
	}
	var obj fs.Object
	err = s.remote(OpPut, func() (err error) {
		obj, err = s.f.Put(ctx, bytes.NewReader(body), info)
		return err
	})
	if err != nil {
		return fmt.Errorf("upload heartbeat: %w", err)
	}
	w.obj = obj
	return nil
}

// listHeartbeats lists the heartbeat folder; a folder that does not exist
// yet is empty, and missing says so.
func (s *Store) listHeartbeats(ctx context.Context) (entries fs.DirEntries, missing bool, err error) {
	err = s.remote(OpList, func() (err error) {
		entries, err = s.f.List(ctx, peersDir)
		return err
	})
	if errors.Is(err, fs.ErrorDirNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("list %s: %w", peersDir, err)
	}
	return entries, false, nil
}

// judge turns a listing into the live peers, updating what we remember
// of each heartbeat, and removes those a killed instance left behind.
func (s *Store) judge(ctx context.Context, now time.Time, entries fs.DirEntries) []Peer {
	w := s.peers
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
			s.removeStaleHeartbeat(ctx, o, mod)
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
			s.removeStaleHeartbeat(ctx, o, mod)
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

// removeStaleHeartbeat removes a heartbeat no instance updates any more.
// Once removed, it is ignored while the listing still shows it with the
// same time.
func (s *Store) removeStaleHeartbeat(ctx context.Context, o fs.Object, mod time.Time) {
	err := s.remote(OpDelete, func() error { return o.Remove(ctx) })
	if err != nil && !isNotFound(err) {
		s.log.Warn("heartbeat: could not remove a stopped instance's leftover heartbeat", "object", o.Remote(), "err", err)
		return
	}
	s.peers.removed[path.Base(o.Remote())] = mod
	s.log.Info("heartbeat: removed the leftover heartbeat of an instance that stopped without removing it", "object", o.Remote())
}

// reportPeers logs the peers that break the guarantee: at once when they
// change, and every remindPeriods periods while they last.
func (s *Store) reportPeers(now time.Time, peers []Peer) {
	w := s.peers
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
		s.log.Info("heartbeat: no other steadyrest instance without a shared overlay is seen on this remote path any more")
	case key == "":
	case key != w.warned || now.Sub(w.warnedAt) >= remindPeriods*w.interval:
		s.log.Error("another steadyrest instance serves this remote path without a shared overlay: "+
			"the consistency guarantee does not hold between them (a lock written through one can be missing from the other's listings); "+
			"run one instance per remote path, or give every instance the same --overlay",
			"peer_instances", len(bad), "peers", key, "this_instance", w.self.host+" (instance "+w.self.instance+")", "heartbeats", peersDir)
		w.warnedAt = now
	}
	w.warned = key
}

// removeHeartbeat removes our heartbeat at Close, best effort and bounded,
// so that peers stop counting this instance at once.
func (s *Store) removeHeartbeat() {
	w := s.peers
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), heartbeatRemoveTimeout)
	defer cancel()
	s.removeOwnHeartbeat(ctx)
}

// removeOwnHeartbeat removes our heartbeat object, if we wrote one; w.mu
// is held.
func (s *Store) removeOwnHeartbeat(ctx context.Context) {
	w := s.peers
	if !w.tried {
		return
	}
	key := path.Join(peersDir, w.self.String())
	obj := w.obj
	if obj == nil {
		var err error
		if obj, err = s.stat(ctx, key); err != nil {
			if !isNotFound(err) {
				s.log.Warn("heartbeat: could not remove this instance's heartbeat; others count it until it ages out", "object", key, "err", err)
			}
			return
		}
	}
	if err := s.remote(OpDelete, func() error { return obj.Remove(ctx) }); err != nil && !isNotFound(err) {
		s.log.Warn("heartbeat: could not remove this instance's heartbeat; others count it until it ages out", "object", key, "err", err)
		return
	}
	w.obj, w.tried = nil, false
}

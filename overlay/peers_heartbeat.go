package overlay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"
)

// The heartbeat object: its name, the instance id it carries, and its
// upload, listing and removal (peers.go judges what the listing shows).

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
func (w *PeerWatch) beat(ctx context.Context, now time.Time, listed heartbeatListing) error {
	key := path.Join(peersDir, w.self.String())
	body, err := json.Marshal(map[string]any{
		"instance": w.self.instance, "host": w.self.host, "pid": os.Getpid(), "overlay": w.self.overlay,
		"period": w.interval.String(), "started": w.started.UTC().Format(time.RFC3339), "beat": now.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	body = append(body, '\n')
	info := object.NewStaticObjectInfo(key, now, int64(len(body)), true, nil, w.f)
	w.tried = true // even a failed upload may leave something
	if w.obj == nil {
		switch {
		case listed.ok:
			w.obj = listed.own(ctx, w.self.String())
		default:
			obj, err := w.stat(ctx, key)
			switch {
			case err == nil:
				w.obj = obj
			case !isNotFound(err):
				return fmt.Errorf("look up heartbeat: %w", err)
			}
		}
	}
	if w.obj != nil {
		err = w.remote(OpPut, func() error { return w.obj.Update(ctx, bytes.NewReader(body), info) })
		if err != nil {
			w.obj = nil // removed behind our back, perhaps: look again next round
			return fmt.Errorf("update heartbeat: %w", err)
		}
		return nil
	}
	if listed.ok && listed.missing {
		// Best effort: the upload makes the folders it lacks anyway.
		if err := w.remote(OpMkdir, func() error { return w.f.Mkdir(ctx, ReservedDir) }); err != nil {
			w.log.Debug("heartbeat: could not create the folder before the first upload", "folder", ReservedDir, "err", err)
		}
	}
	var obj fs.Object
	err = w.remote(OpPut, func() (err error) {
		obj, err = w.f.Put(ctx, bytes.NewReader(body), info)
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
func (w *PeerWatch) listHeartbeats(ctx context.Context) (entries fs.DirEntries, missing bool, err error) {
	err = w.remote(OpList, func() (err error) {
		entries, err = w.f.List(ctx, peersDir)
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

// removeStaleHeartbeat removes a heartbeat no instance updates any more.
// Once removed, it is ignored while the listing still shows it with the
// same time.
func (w *PeerWatch) removeStaleHeartbeat(ctx context.Context, o fs.Object, mod time.Time) {
	err := w.remote(OpDelete, func() error { return o.Remove(ctx) })
	if err != nil && !isNotFound(err) {
		w.log.Warn("heartbeat: could not remove a stopped instance's leftover heartbeat", "object", o.Remote(), "err", err)
		return
	}
	w.removed[path.Base(o.Remote())] = mod
	w.log.Info("heartbeat: removed the leftover heartbeat of an instance that stopped without removing it", "object", o.Remote())
}

// removeHeartbeat removes our heartbeat at Close, best effort and bounded,
// so that peers stop counting this instance at once.
func (w *PeerWatch) removeHeartbeat() {
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), heartbeatRemoveTimeout)
	defer cancel()
	w.removeOwnHeartbeat(ctx)
}

// removeOwnHeartbeat removes our heartbeat object, if we wrote one; w.mu
// is held.
func (w *PeerWatch) removeOwnHeartbeat(ctx context.Context) {
	if !w.tried {
		return
	}
	key := path.Join(peersDir, w.self.String())
	obj := w.obj
	if obj == nil {
		var err error
		if obj, err = w.stat(ctx, key); err != nil {
			if !isNotFound(err) {
				w.log.Warn("heartbeat: could not remove this instance's heartbeat; others count it until it ages out", "object", key, "err", err)
			}
			return
		}
	}
	if err := w.remote(OpDelete, func() error { return obj.Remove(ctx) }); err != nil && !isNotFound(err) {
		w.log.Warn("heartbeat: could not remove this instance's heartbeat; others count it until it ages out", "object", key, "err", err)
		return
	}
	w.obj, w.tried = nil, false
}

// remote times one call to the remote and reports it, as the Store does.
func (w *PeerWatch) remote(op string, fn func() error) error {
	return remoteCall(w.obs, w.log, op, fn)
}

// stat looks key up on the remote.
func (w *PeerWatch) stat(ctx context.Context, key string) (obj fs.Object, err error) {
	err = w.remote(OpStat, func() (err error) {
		obj, err = w.f.NewObject(ctx, key)
		return err
	})
	return obj, err
}

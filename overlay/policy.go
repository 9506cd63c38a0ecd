package overlay

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/rclone/rclone/fs"
)

// The repository policy (Options.AppendOnly) binds the background as it
// binds the API. The records that drive the reaper come from the journal
// or from Redis, and whoever can write those can forge one; so the policy
// is checked where a removal is about to happen, not where a record was
// made.

// ErrAppendOnly is returned for a removal --append-only forbids: the
// proxy refuses such a DELETE itself, so the Store sees one only from a
// caller that skipped that check.
var ErrAppendOnly = errors.New("append-only: only locks may be removed")

// removal says on whose behalf the store removes an object from the
// remote.
type removal uint8

const (
	// removeForClient: a client's DELETE, or the reap that finishes one
	// (a record asks for it).
	removeForClient removal = iota
	// removeOwnUpload: what an upload this process refused or failed left
	// under its final name (reject.go, put.go). Never a client's object.
	removeOwnUpload
)

// mayRemove tells whether the policy lets the store remove key from the
// remote for why: under --append-only, only locks and its own failed
// uploads.
func (s *Store) mayRemove(key string, why removal) bool {
	return !s.opt.AppendOnly || why == removeOwnUpload || isLockKey(key)
}

// isLockKey tells whether key (an object's remote path) is a lock. No
// repository folder may be named like a type (ValidRepoSegment), so the
// last folder is the type.
func isLockKey(key string) bool {
	return path.Base(path.Dir(key)) == string(Locks)
}

// removeObject removes obj from the remote, if the policy lets the store
// remove it for why: every removal of a repository's object goes through
// here (peers.go removes only steadyrest's own heartbeat).
func (s *Store) removeObject(ctx context.Context, obj fs.Object, why removal) error {
	if !s.mayRemove(obj.Remote(), why) {
		return fmt.Errorf("remove %s: %w", obj.Remote(), ErrAppendOnly)
	}
	return s.remote(OpDelete, func() error { return obj.Remove(ctx) })
}

// checkRemove is mayRemove for a client's DELETE of h (at key), as an
// error.
func (s *Store) checkRemove(h Handle, key objectKey) error {
	if !s.mayRemove(key.path, removeForClient) {
		return fmt.Errorf("delete %s: %w", h, ErrAppendOnly)
	}
	return nil
}

// refuse drops a record that asks the background for what the policy
// forbids (a pending reap of a pack under --append-only, a deferred upload
// of anything but a lock): forged, or left by a run under another policy.
// The object stays on the remote and shows again. Dropping the record,
// rather than keeping it and retrying, counts and logs it once (apply).
func (s *Store) refuse(ctx context.Context, r record) {
	if _, err := s.apply(ctx, []change{{op: chRefused, rec: r}}); err != nil {
		s.log.Warn("overlay: could not drop a record the policy refuses", "object", r.key.path, "err", err)
	}
}

package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/steadyrest/steadyrest/internal/redistest"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// handleOf is a handle of type typ named by data's SHA-256.
func handleOf(typ Type, data string) Handle {
	sum := sha256.Sum256([]byte(data))
	return Handle{Repo: "repo", Type: typ, Name: hex.EncodeToString(sum[:])}
}

// redisClient is a client of srv of its own, as an attacker with write
// access to Redis has.
func redisClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// forgeRedisTombstone writes, with plain Redis commands, a pending reap of
// key into the shared records under prefix p: what makes the reaper remove
// the object from the remote.
func forgeRedisTombstone(t *testing.T, c *redis.Client, p, key string) {
	t.Helper()
	ctx := context.Background()
	k, ok := parseKey(key)
	if !ok {
		t.Fatalf("bad key %q", key)
	}
	at := time.Now().Add(-time.Second)
	val := "t " + strconv.FormatInt(at.UnixNano(), 10) + " 1 0 0 0\n0 0 0"
	if err := c.HSet(ctx, p+"d:"+k.dir, k.name, val).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, p+"z:pr", redis.Z{Score: float64(at.UnixMilli()), Member: key}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, p+"z:rq", redis.Z{Score: 0, Member: key}).Err(); err != nil {
		t.Fatal(err)
	}
}

// onDisk tells whether the local remote in root holds key.
func onDisk(root, key string) bool {
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(key)))
	return err == nil
}

// refusedOrGone waits until the reaper dealt with a forged pending reap of
// key: removed it (the attack worked) or refused to.
func refusedOrGone(t *testing.T, s *Store, root, key string) {
	t.Helper()
	testutil.Eventually(t, "the reaper to handle the forged tombstone", 10*time.Second, func() bool {
		return !onDisk(root, key) || s.Stats().Events[EventReapRefused] > 0
	})
	if !onDisk(root, key) {
		t.Fatalf("under append-only the reaper removed %s from the remote on a forged record", key)
	}
}

// afterRefusal checks what a refused reap leaves: the object on the
// remote and visible again, no pending reap, and no retry every round.
func afterRefusal(t *testing.T, s *Store, root string, h Handle) {
	t.Helper()
	time.Sleep(4 * tick) // rounds in which a kept reap would be retried
	if n := s.Stats().Events[EventReapRefused]; n != 1 {
		t.Errorf("refused reaps counted = %d, want 1 (handled once, not retried)", n)
	}
	if st := s.Stats(); st.PendingReaps != 0 {
		t.Errorf("pending reaps after the refusal = %d, want 0", st.PendingReaps)
	}
	if !onDisk(root, h.remotePath()) {
		t.Fatalf("%s was removed from the remote", h)
	}
	if _, err := s.Lookup(context.Background(), h); err != nil {
		t.Errorf("lookup of the object the forged record hid: %v, want it visible", err)
	}
}

// With --append-only, a pending reap written into Redis by someone with
// write access to it does not make the reaper remove a pack; one of a lock
// does (the API removes locks under append-only too).
func TestAppendOnlyReaperIgnoresForgedRedisTombstone(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	f := localRemote(t, root)
	s := newStore(t, f, Options{Shared: srv.URL(), AppendOnly: true})
	pack := handleOf(Data, "a pack of the backup")
	put(t, s, pack, "a pack of the backup")
	lock := handleOf(Locks, "a lock")
	put(t, s, lock, "a lock")

	c := redisClient(t, srv)
	forgeRedisTombstone(t, c, string(shared(s).k), pack.remotePath())
	refusedOrGone(t, s, root, pack.remotePath())
	afterRefusal(t, s, root, pack)

	forgeRedisTombstone(t, c, string(shared(s).k), lock.remotePath())
	testutil.Eventually(t, "the reaper to remove the lock", 10*time.Second, func() bool { return !onDisk(root, lock.remotePath()) })
}

// The same attack through the state folder: a pending reap planted in the
// journal while the server is stopped.
func TestAppendOnlyReaperIgnoresForgedJournalRecord(t *testing.T) {
	root := t.TempDir()
	state := t.TempDir()
	f := localRemote(t, root)
	s1, err := New(f, Options{StateDir: state, AppendOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pack := handleOf(Data, "a pack of the backup")
	put(t, s1, pack, "a pack of the backup")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	forgeJournalTombstone(t, state, f, pack.remotePath())

	s2 := newStore(t, f, Options{StateDir: state, AppendOnly: true})
	refusedOrGone(t, s2, root, pack.remotePath())
	afterRefusal(t, s2, root, pack)
}

// forgeJournalTombstone writes a pending reap of key into the journal in
// state, as anyone who can write the state folder can.
func forgeJournalTombstone(t *testing.T, state string, f fs.Fs, key string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(state, "overlay.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := json.Marshal(map[string]any{"k": "t", "at": time.Now().Add(-time.Second), "r": true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("records " + fs.ConfigString(f)))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Without --append-only the same record is obeyed: the policy, not the
// record's source, decides (and the test's forgery does reach the reaper).
func TestReaperObeysRecordWithoutAppendOnly(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	s := newStore(t, localRemote(t, root), Options{Shared: srv.URL()})
	pack := handleOf(Data, "a pack of the backup")
	put(t, s, pack, "a pack of the backup")
	forgeRedisTombstone(t, redisClient(t, srv), string(shared(s).k), pack.remotePath())
	testutil.Eventually(t, "the reaper to remove the pack", 10*time.Second, func() bool { return !onDisk(root, pack.remotePath()) })
}

// Under --append-only the Store itself refuses a client's DELETE of a
// pack, should a caller skip the proxy's check, and removes a lock.
func TestAppendOnlyRemoveOfPackRefused(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, localRemote(t, root), Options{AppendOnly: true})
	pack := handleOf(Data, "a pack")
	put(t, s, pack, "a pack")
	if err := s.Remove(context.Background(), pack); !errors.Is(err, ErrAppendOnly) {
		t.Errorf("Remove of a pack under append-only: %v, want ErrAppendOnly", err)
	}
	if !onDisk(root, pack.remotePath()) {
		t.Error("the pack was removed")
	}
	lock := handleOf(Locks, "a lock")
	put(t, s, lock, "a lock")
	if err := s.Remove(context.Background(), lock); err != nil {
		t.Errorf("Remove of a lock under append-only: %v", err)
	}
}

// A deferred upload planted in Redis for anything but a lock would
// overwrite that object: it is refused, whatever the policy.
func TestForgedDeferredUploadOfPackRefused(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	root := t.TempDir()
	s := newStore(t, localRemote(t, root), Options{Shared: srv.URL(), LockUploadDelay: time.Millisecond})
	pack := handleOf(Data, "a pack of the backup")
	put(t, s, pack, "a pack of the backup")
	k := pack.key()
	key, dir, name := k.path, k.dir, k.name
	c, p, ctx := redisClient(t, srv), string(shared(s).k), context.Background()
	at := time.Now().Add(-time.Minute)
	val := "c " + strconv.FormatInt(at.UnixNano(), 10) + " 0 0 0 1\n7 0 0"
	for _, err := range []error{
		c.HSet(ctx, p+"d:"+dir, name, val).Err(),
		c.Set(ctx, p+"b:"+key, "garbage", 0).Err(),
		c.ZAdd(ctx, p+"z:up", redis.Z{Score: float64(at.UnixMilli()), Member: key}).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var b []byte
	var err error
	testutil.Eventually(t, "the forged upload to be handled", 10*time.Second, func() bool {
		b, err = os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
		return s.Stats().Events[EventReapRefused] > 0 || string(b) != "a pack of the backup"
	})
	if err != nil || string(b) != "a pack of the backup" {
		t.Errorf("the pack on the remote: %q, %v; want it unchanged", b, err)
	}
}

package overlay

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal form keeps what a restart must bring back, and the record
// read back from it is the one written.
func TestJournalCodec(t *testing.T) {
	now := time.Unix(0, time.Now().UnixNano()) // no monotonic reading
	lock := locksRec(created, 'a', now)
	deferred := lock
	deferred.deferred = true
	uploaded := deferred // a deferred lock a listing confirmed: on the remote
	uploaded.confirmed = now
	reap := locksRec(tombstone, 'b', now)
	reap.reap, reap.nextTry, reap.tries = true, now.Add(time.Minute), 3
	gone := locksRec(tombstone, 'c', now)
	gone.removedAt = now.Add(time.Second)
	big := lock
	big.size = journalDataMax + 1
	body := []byte("0123456789")
	for _, c := range []struct {
		name string
		r    record
		data []byte
		want journalRecord
	}{
		{"created", lock, nil, journalRecord{Kind: "c", Size: 10, At: now}},
		{"created with its bytes", lock, body, journalRecord{Kind: "c", Size: 10, At: now, Data: body}},
		{"too big for its bytes", big, make([]byte, big.size), journalRecord{Kind: "c", Size: big.size, At: now}},
		{"deferred lock", deferred, body, journalRecord{Kind: "c", Size: 10, At: now, Def: true, Data: body}},
		{"deferred lock on the remote", uploaded, nil, journalRecord{Kind: "c", Size: 10, At: now}},
		{"pending reap", reap, nil, journalRecord{Kind: "t", At: now, Reap: true}},
		{"tombstone", gone, nil, journalRecord{Kind: "t", At: now, Rm: gone.removedAt}},
	} {
		jr := journalOf(c.r, c.data)
		if jr.Kind != c.want.Kind || jr.Size != c.want.Size || !jr.At.Equal(c.want.At) || jr.Reap != c.want.Reap ||
			!jr.Rm.Equal(c.want.Rm) || jr.Def != c.want.Def || !bytes.Equal(jr.Data, c.want.Data) {
			t.Errorf("%s: journalOf = %+v, want %+v", c.name, jr, c.want)
			continue
		}
		back, err := fromJournal(c.r.key.path, jr)
		if err != nil {
			t.Errorf("%s: fromJournal: %v", c.name, err)
			continue
		}
		if back.key != c.r.key || back.kind != c.r.kind ||
			!back.at.Equal(c.r.at) || back.reap != c.r.reap || !back.removedAt.Equal(c.r.removedAt) || back.deferred != jr.Def {
			t.Errorf("%s: read back %+v from %+v", c.name, back, c.r)
		}
	}
	for _, bad := range []struct {
		key string
		jr  journalRecord
	}{
		{"nopath", journalRecord{Kind: "c", At: now}},
		{lock.key.path, journalRecord{Kind: "x", At: now}},
		{lock.key.path, journalRecord{Kind: "c", Size: 10, At: now, Def: true}}, // its bytes missing
	} {
		if _, err := fromJournal(bad.key, bad.jr); err == nil {
			t.Errorf("fromJournal(%q, %+v) took a bad record", bad.key, bad.jr)
		}
	}
}

// A journal the previous version wrote (its JSON, byte for byte, under
// its keys: remote paths) loads: the format did not change. Each record
// comes back at the place its Handle names, listed in its folder: a pack
// in its prefix folder, a config at the root and in a repository.
func TestJournalOldFormatLoads(t *testing.T) {
	dir := t.TempDir()
	lock, gone, deferred := "repo/locks/"+name('a'), "repo/locks/"+name('b'), "repo/locks/"+name('c')
	pack := "repo/data/dd/" + name('d')
	fixture := map[string]string{
		lock:          `{"k":"c","s":4,"at":"2026-12-06T08:00:00.123456789Z","d":"bG9jaw=="}`,
		gone:          `{"k":"t","at":"2026-12-06T08:00:01Z","r":true}`,
		deferred:      `{"k":"c","s":2,"at":"2026-12-06T08:00:02Z","u":true,"d":"aGk="}`,
		pack:          `{"k":"t","at":"2026-12-06T08:00:03Z","rm":"2026-12-06T08:00:04Z"}`,
		"config":      `{"k":"c","s":3,"at":"2026-12-06T08:00:05Z"}`,
		"repo/config": `{"k":"c","s":5,"at":"2026-12-06T08:00:06Z"}`,
	}
	db, err := bolt.Open(filepath.Join(dir, "overlay.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("records test-remote"))
		if err != nil {
			return err
		}
		for k, v := range fixture {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	kept := map[string]string{}
	o := openTestOverlay(t, dir, func(key string, data []byte) { kept[key] = string(data) })
	defer o.close()
	at, _ := time.Parse(time.RFC3339Nano, "2026-12-06T08:00:00.123456789Z")
	if r := mustGet(t, o, keyOf(lock)); r.kind != created || r.size != 4 || !r.at.Equal(at) || r.deferred {
		t.Errorf("lock = %+v", r)
	}
	if kept[lock] != "lock" {
		t.Errorf("the lock's bytes = %q, want %q", kept[lock], "lock")
	}
	if r := mustGet(t, o, keyOf(gone)); r.kind != tombstone || !r.reap {
		t.Errorf("pending reap = %+v", r)
	}
	if r := mustGet(t, o, keyOf(deferred)); !r.deferred || r.size != 2 {
		t.Errorf("deferred lock = %+v", r)
	}
	if b, ok, _ := o.content(context.Background(), keyOf(deferred)); !ok || string(b) != "hi" {
		t.Errorf("deferred lock's bytes = %q, %v", b, ok)
	}
	for _, h := range []Handle{
		{Repo: "repo", Type: Locks, Name: name('a')},
		{Repo: "repo", Type: Data, Name: name('d')},
		{Type: Config},
		{Repo: "repo", Type: Config},
	} {
		r := mustGet(t, o, h.key())
		if r.key != h.key() {
			t.Errorf("%s: reloaded at %+v, want %+v", h, r.key, h.key())
		}
		if h.Type == Config {
			continue
		}
		recs, err := o.viewDir(context.Background(), typeDir(h.Repo, h.Type))
		if err != nil || !slices.ContainsFunc(recs, func(r *record) bool { return r.key.name == h.Name }) {
			t.Errorf("%s: not listed in its folder (%v)", h, err)
		}
	}
	if r := mustGet(t, o, keyOf(pack)); r.kind != tombstone || r.removedAt.IsZero() {
		t.Errorf("pack = %+v", r)
	}
}

// A shared record the previous version wrote decodes.
func TestSharedOldFormatDecodes(t *testing.T) {
	key := "repo/locks/" + name('a')
	r, err := decodeRecord(keyOf(key), "t 1765008000000000000 1 0 0 0\n0 1765008060000000000 2")
	if err != nil {
		t.Fatal(err)
	}
	if r.kind != tombstone || !r.reap || r.at.UnixNano() != 1765008000000000000 || r.nextTry.UnixNano() != 1765008060000000000 || r.tries != 2 {
		t.Errorf("decoded %+v", r)
	}
	if got := encodeRecord(r); got != "t 1765008000000000000 1 0 0 0\n0 1765008060000000000 2" {
		t.Errorf("encoded again as %q", got)
	}
}

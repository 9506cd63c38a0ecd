package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// journal keeps overlay records on local disk so that a restart inside the
// settle window keeps the contract: a lock deleted before a crash stays
// deleted, a pending reap is retried. It is a bbolt file: one well-kept,
// crash-safe embedded store (already in rclone's dependency tree) instead
// of a home-made log.
//
// Records are kept in one bucket per remote (named by rclone's config
// string for it), so a state folder reused with another --remote does not
// apply one remote's records to another.
type journal struct {
	db     *bolt.DB
	path   string
	bucket []byte
	// lost: the journal was missing or empty at open while its marker
	// said it had existed, so the records it held are gone (New says so).
	lost bool

	// Every write goes through ops, in order, to one committer (run), so
	// a write nobody waits for (putLater) is never overtaken by a later
	// write of the same key.
	mu      sync.RWMutex // held to queue; close takes it to stop the queue
	closed  bool
	ops     chan journalOp
	stopped chan struct{}
}

// journalOp is one queued write: fn changes the bucket; done, unless nil,
// gets the commit's outcome once it is durable.
type journalOp struct {
	fn   func(b *bolt.Bucket) error
	done chan error
}

// journalBatchMax bounds the writes one commit takes.
const journalBatchMax = 1000

// journalMarkerName is a file beside the journal, written once the journal
// exists: the journal missing (or empty) with the marker present means
// the journal was lost, not that the state folder is new, as the shared
// overlay's marker key tells a flushed Redis from a new one.
const journalMarkerName = "overlay.db.marker"

// journalRecord is the on-disk form of a record.
type journalRecord struct {
	Kind string    `json:"k"` // "c" created, "t" tombstone
	Size int64     `json:"s,omitempty"`
	At   time.Time `json:"at"`
	Reap bool      `json:"r,omitempty"` // tombstone: remote removal not yet confirmed
	Rm   time.Time `json:"rm,omitzero"` // tombstone: when the remote accepted the removal
	Def  bool      `json:"u,omitempty"` // created: a deferred lock, not on the remote yet (Data holds it)
	// Data is a small created object's content (locks, keys, config,
	// snapshots), so that after a restart it is served at once instead of
	// waiting for the lagging remote to show it.
	Data []byte `json:"d,omitempty"`
}

// journalDataMax is the largest object whose content the journal keeps.
const journalDataMax = 64 << 10

// openJournal opens (or creates) the journal in dir. A damaged file or one
// held by another instance is an error: running without a sound journal
// would silently weaken the guarantee. A lost one (see journalMarkerName)
// is created anew, with lost set.
func openJournal(dir, remote string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	path := filepath.Join(dir, "overlay.db")
	marker := filepath.Join(dir, journalMarkerName)
	_, merr := os.Stat(marker)
	st, err := os.Stat(path)
	lost := merr == nil && (errors.Is(err, os.ErrNotExist) || (err == nil && st.Size() == 0))
	var db *bolt.DB
	err = unpanic(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
		return err
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("journal %s is locked: is another steadyrest using this state folder? %w", path, err)
	}
	if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
		err = damaged(path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	j := &journal{db: db, path: path, bucket: []byte("records " + remote), lost: lost,
		ops: make(chan journalOp, journalBatchMax), stopped: make(chan struct{})}
	err = unpanic(path, func() error {
		// Every page, once per start: bbolt panics on a damaged page
		// wherever a later read meets it.
		if err := db.View(checkPages); err != nil {
			return damaged(path, err)
		}
		return db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(j.bucket)
			return err
		})
	})
	if err == nil && merr != nil {
		err = writeMarker(marker)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	go j.run()
	return j, nil
}

// run commits the queued writes in order until close: each commit takes
// every write queued while the last one was syncing, so concurrent
// writers share one fsync and a lone writer waits for no company (a
// bbolt Batch waits MaxBatchDelay for it: two such waits per delete were
// most of a prune's time beyond the remote calls).
func (j *journal) run() {
	defer close(j.stopped)
	for first := range j.ops {
		batch := append(make([]journalOp, 0, 16), first)
	gather:
		for len(batch) < journalBatchMax {
			select {
			case op, ok := <-j.ops:
				if !ok {
					break gather
				}
				batch = append(batch, op)
			default:
				break gather
			}
		}
		if err := j.commit(batch); err != nil && len(batch) > 1 {
			// One write that fails must not fail the others that shared
			// its commit (as bbolt's Batch retries each alone): each
			// gets its own, in order, and its own outcome.
			for _, op := range batch {
				j.commit([]journalOp{op})
			}
		}
	}
}

// commit writes ops in one transaction and tells each the outcome.
func (j *journal) commit(ops []journalOp) error {
	err := unpanic(j.path, func() error {
		return j.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(j.bucket)
			for _, op := range ops {
				if err := op.fn(b); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil && len(ops) > 1 {
		return err // the caller commits each alone
	}
	for _, op := range ops {
		if op.done != nil {
			op.done <- err
		}
	}
	return err
}

// errJournalClosed is a write after close.
var errJournalClosed = errors.New("journal closed")

// queue hands op to the committer.
func (j *journal) queue(op journalOp) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed {
		return errJournalClosed
	}
	j.ops <- op
	return nil
}

// write queues fn and returns once it is durable.
func (j *journal) write(fn func(b *bolt.Bucket) error) error {
	op := journalOp{fn: fn, done: make(chan error, 1)}
	err := j.queue(op)
	if err == nil {
		err = <-op.done
	}
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// checkPages returns the first inconsistency bbolt finds in the file.
func checkPages(tx *bolt.Tx) error {
	var first error
	for err := range tx.Check() { // drained: Check's goroutine reads tx until it closes
		if first == nil {
			first = err
		}
	}
	return first
}

// writeMarker writes the journal's marker durably.
func writeMarker(marker string) error {
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write journal marker: %w", err)
	}
	_, err = f.WriteString("overlay.db exists since " + time.Now().UTC().Format(time.RFC3339) + "; without it, its records were lost\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write journal marker: %w", err)
	}
	return nil
}

// damaged is the error for a journal bbolt cannot read: it names the file
// and what to do.
func damaged(path string, cause error) error {
	return fmt.Errorf("journal %s is damaged (%w): steadyrest will not run on it. Stop steadyrest, move it aside (mv %s %s.damaged) and start again: a new journal is created, and the records the old one held (uploads and deletes of the last settle window, locks not yet uploaded) are lost",
		path, cause, path, path)
}

// unpanic runs fn, turning a panic of bbolt's (what it does on a damaged
// page) into the damaged error.
func unpanic(path string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, fmt.Errorf("%v", r))
		}
	}()
	return fn()
}

// load calls fn for every record in the journal.
func (j *journal) load(fn func(key string, r journalRecord) error) error {
	return unpanic(j.path, func() error { return j.loadRecords(fn) })
}

func (j *journal) loadRecords(fn func(key string, r journalRecord) error) error {
	return j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(j.bucket).ForEach(func(k, v []byte) error {
			var r journalRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("journal record %q is damaged: %w", k, err)
			}
			return fn(string(k), r)
		})
	})
}

// put writes a record durably.
func (j *journal) put(key string, r journalRecord) error {
	fn, err := putOp(key, r)
	if err != nil {
		return err
	}
	return j.write(fn)
}

// putLater queues a record's write without waiting for it to be durable:
// for a state whose loss in a crash the journal already covers (the entry
// it replaces is durable and safe to come back). Writes queued after it
// land after it. failed is told if the write fails.
func (j *journal) putLater(key string, r journalRecord, failed func(error)) {
	fn, err := putOp(key, r)
	if err != nil {
		failed(err)
		return
	}
	done := make(chan error, 1)
	if err := j.queue(journalOp{fn: fn, done: done}); err != nil {
		failed(fmt.Errorf("write journal: %w", err))
		return
	}
	go func() {
		if err := <-done; err != nil {
			failed(fmt.Errorf("write journal: %w", err))
		}
	}()
}

func putOp(key string, r journalRecord) (func(b *bolt.Bucket) error, error) {
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode journal record: %w", err)
	}
	return func(b *bolt.Bucket) error { return b.Put([]byte(key), v) }, nil
}

// probe writes a time into a bucket of its own, durably: the journal can
// take writes (readiness).
func (j *journal) probe() error {
	return j.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("probe"))
		if err != nil {
			return err
		}
		return b.Put([]byte("ready"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
}

// delete drops a retired record.
func (j *journal) delete(key string) error {
	return j.write(func(b *bolt.Bucket) error { return b.Delete([]byte(key)) })
}

// dropRetired deletes retired records in one transaction, each only if the
// journal still holds that record (same time), not a newer one written
// under the same key since.
func (j *journal) dropRetired(retired []retiredRec) error {
	return j.write(func(b *bolt.Bucket) error {
		for _, r := range retired {
			v := b.Get([]byte(r.key))
			if v == nil {
				continue
			}
			var jr journalRecord
			if err := json.Unmarshal(v, &jr); err == nil && !jr.At.Equal(r.at) {
				continue
			}
			if err := b.Delete([]byte(r.key)); err != nil {
				return err
			}
		}
		return nil
	})
}

// size is the journal file's size in bytes.
func (j *journal) size() int64 {
	var n int64
	_ = j.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}

// close commits what is queued, then closes the file.
func (j *journal) close() error {
	j.mu.Lock()
	if !j.closed {
		j.closed = true
		close(j.ops)
	}
	j.mu.Unlock()
	<-j.stopped
	return j.db.Close()
}

// retiredRec names a retired record's journal entry: the key, and the time
// that identifies this record (a newer record under the same key stays).
type retiredRec struct {
	key string
	at  time.Time
}

package overlay

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// spool keeps the bytes of recent uploads too large for the content cache
// in files of its own folder, so that reads of fresh packs (check
// --read-data, prune, restore right after a backup) are served locally
// instead of waiting for a remote that cannot serve them yet.
//
// Its contract:
//   - it never holds more than max bytes: an upload reserves its size
//     before the first byte is written, and one that does not fit (after
//     the oldest entries made room) is not spooled;
//   - it is emptied when it opens and when it closes;
//   - it never fails an upload: a write the disk refuses (full, or any
//     error) makes it step aside for that upload, which goes on through
//     the remote path as without a spool;
//   - it serves only an entry of the exact size the caller expects, and
//     an entry leaves when its object is deleted, when its room is needed
//     (oldest first), or ttl after its upload. restic names objects by the
//     hash of their content, so an entry is never stale.
//
// Entries do not leave when the remote confirms the record: a listing
// that shows a new pack does not prove the remote can serve its bytes
// (pCloud refuses download links to fresh files for longer than it hides
// them from listings), and the room is bounded anyway.
//
// A nil *spool is a spool that is off: every method does nothing.
type spool struct {
	dir string
	max int64
	ttl time.Duration
	log *slog.Logger

	mu       sync.Mutex
	bytes    int64 // of the entries
	reserved int64 // of the uploads being written
	entries  map[string]*spoolEntry
	order    *list.List // of *spoolEntry, oldest first
	seq      uint64
	failing  bool // the last write failed; logged once until one succeeds
}

type spoolEntry struct {
	key  string
	path string
	size int64
	at   time.Time
	el   *list.Element
}

// spoolDirName is the spool's folder below the state folder.
const spoolDirName = "spool"

// openSpool empties dir and returns a spool of max bytes in it, or nil
// when max or dir says off. A folder it cannot prepare turns it off, with
// a warning: the spool only saves waiting, it is never needed.
func openSpool(dir string, max int64, ttl time.Duration, log *slog.Logger) *spool {
	if max <= 0 || dir == "" {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		log.Warn("spool: could not empty its folder; the spool is off", "dir", dir, "err", err)
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Warn("spool: could not create its folder; the spool is off", "dir", dir, "err", err)
		return nil
	}
	return &spool{dir: dir, max: max, ttl: ttl, log: log, entries: map[string]*spoolEntry{}, order: list.New()}
}

// spoolWriter receives one upload's bytes as the remote is sent them. Its
// Write never fails: a failure only ends the spooling of this upload. It
// is locked because a rejected upload's backend may still be reading
// (and so writing here) when the request gives up (putChecked).
type spoolWriter struct {
	mu   sync.Mutex
	sp   *spool
	key  string
	size int64
	path string
	f    *os.File // nil once failed
	n    int64
}

// begin reserves room for an upload of size bytes under key and returns
// its writer, or nil when the spool is off or the upload does not fit.
func (sp *spool) begin(key string, size int64) *spoolWriter {
	if sp == nil || size <= 0 || size > sp.max {
		return nil
	}
	sp.mu.Lock()
	sp.expireLocked(time.Now())
	for sp.bytes+sp.reserved+size > sp.max && sp.order.Len() > 0 {
		sp.dropLocked(sp.order.Front().Value.(*spoolEntry))
	}
	if sp.bytes+sp.reserved+size > sp.max {
		sp.mu.Unlock()
		return nil // the room is reserved by uploads in flight
	}
	sp.reserved += size
	sp.seq++
	path := filepath.Join(sp.dir, strconv.FormatUint(sp.seq, 10))
	sp.mu.Unlock()
	w := &spoolWriter{sp: sp, key: key, size: size, path: path}
	f, err := os.OpenFile(path+".part", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		w.fail(err)
		return nil
	}
	w.f = f
	return w
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w == nil {
		return len(p), nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return len(p), nil
	}
	if w.n+int64(len(p)) > w.size {
		w.fail(fmt.Errorf("upload longer than its %d bytes", w.size))
		return len(p), nil
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.fail(err)
	}
	return len(p), nil
}

// fail ends the spooling of this upload after err: its file goes, its
// room is released, and the first failure of a streak is logged. The
// caller holds w.mu (or is begin).
func (w *spoolWriter) fail(err error) {
	w.release()
	sp := w.sp
	sp.mu.Lock()
	first := !sp.failing
	sp.failing = true
	sp.mu.Unlock()
	if first {
		sp.log.Warn("spool: could not keep an upload on disk; reads of fresh uploads wait for the remote until it can again",
			"object", w.key, "err", err)
	}
}

// abort drops an upload that did not complete (or was not acknowledged).
func (w *spoolWriter) abort() {
	if w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.release()
	}
}

// release removes the partial file and gives the room back, once. The
// caller holds w.mu (or is begin, before w is shared).
func (w *spoolWriter) release() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.size == 0 {
		return
	}
	os.Remove(w.path + ".part")
	w.sp.mu.Lock()
	w.sp.reserved -= w.size
	w.sp.mu.Unlock()
	w.size = 0
}

// commit makes a complete upload an entry, replacing any older one of its
// key. It reports whether the entry was kept.
func (w *spoolWriter) commit() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size == 0 {
		return false
	}
	if w.f == nil || w.n != w.size {
		w.release()
		return false
	}
	if err := w.f.Close(); err != nil {
		w.f = nil
		w.fail(err)
		return false
	}
	w.f = nil
	if err := os.Rename(w.path+".part", w.path); err != nil {
		w.fail(err)
		return false
	}
	sp := w.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if old := sp.entries[w.key]; old != nil {
		sp.dropLocked(old)
	}
	e := &spoolEntry{key: w.key, path: w.path, size: w.size, at: time.Now()}
	e.el = sp.order.PushBack(e)
	sp.entries[w.key] = e
	sp.reserved -= w.size
	sp.bytes += w.size
	sp.failing = false
	w.size = 0
	return true
}

// open reads length bytes from offset of key's entry, if there is one of
// size bytes.
func (sp *spool) open(key string, size, offset, length int64) (io.ReadCloser, bool) {
	if sp == nil {
		return nil, false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.entries[key]
	if e == nil || e.size != size {
		return nil, false
	}
	if time.Since(e.at) > sp.ttl {
		sp.dropLocked(e)
		return nil, false
	}
	// Opened under the lock: an eviction after this removes the name, and
	// the open file stays readable to its end.
	f, err := os.Open(e.path)
	if err != nil {
		sp.dropLocked(e)
		return nil, false
	}
	return spoolReader{io.NewSectionReader(f, offset, length), f}, true
}

type spoolReader struct {
	*io.SectionReader
	f *os.File
}

func (r spoolReader) Close() error { return r.f.Close() }

// remove drops key's entry: its object was deleted.
func (sp *spool) remove(key string) {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if e := sp.entries[key]; e != nil {
		sp.dropLocked(e)
	}
}

// expire drops the entries older than ttl.
func (sp *spool) expire(now time.Time) {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.expireLocked(now)
}

func (sp *spool) expireLocked(now time.Time) {
	for sp.order.Len() > 0 {
		e := sp.order.Front().Value.(*spoolEntry)
		if now.Sub(e.at) <= sp.ttl {
			return
		}
		sp.dropLocked(e)
	}
}

func (sp *spool) dropLocked(e *spoolEntry) {
	delete(sp.entries, e.key)
	sp.order.Remove(e.el)
	sp.bytes -= e.size
	if err := os.Remove(e.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		sp.log.Debug("spool: could not remove an entry's file", "path", e.path, "err", err)
	}
}

// size is the bytes the entries hold.
func (sp *spool) size() int64 {
	if sp == nil {
		return 0
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.bytes
}

// close empties the spool: its entries are worth nothing to the next
// start, which empties it anyway.
func (sp *spool) close() {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for sp.order.Len() > 0 {
		sp.dropLocked(sp.order.Front().Value.(*spoolEntry))
	}
	os.RemoveAll(sp.dir)
}

package overlay

import (
	"maps"
	"sync"
)

// folderSizes is the store's one count of how many objects each data
// prefix folder (repo/data/ab) holds on the remote, which the confirmer
// reads to choose lookups or a listing (lookupCheaper). Listings set it:
// one of data/ sets every prefix folder it shows, one of a prefix folder
// that folder. CountUsage's recursive listing seeds it whole, and from
// then on the uploads and deletes through the store move it (usage.go).
// A folder no listing showed is unknown until the seed, empty after it.
// It is an estimate: a listing of a lagging remote, or writes through
// other instances, may leave it off by what they did not show.
type folderSizes struct {
	mu     sync.Mutex
	n      map[string]int
	seeded bool // a recursive listing counted every folder
}

func newFolderSizes() *folderSizes { return &folderSizes{n: map[string]int{}} }

// size returns folder's count, ok false when it is unknown.
func (f *folderSizes) size(folder string) (n int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok = f.n[folder]
	return n, ok || f.seeded
}

// set records a listing's count of each folder in sizes. A folder the
// listing did not show keeps its last count, as an estimate.
func (f *folderSizes) set(sizes map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	maps.Copy(f.n, sizes)
}

// seed records a recursive listing's count of every folder: one it did not
// show is empty.
func (f *folderSizes) seed(sizes map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.n)
	maps.Copy(f.n, sizes)
	f.seeded = true
}

// add moves folder's count by d objects (negative for deletes), if it is
// known.
func (f *folderSizes) add(folder string, d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.n[folder]; ok || f.seeded {
		f.n[folder] = max(n+d, 0)
	}
}

package cache

import (
	"sort"

	"github.com/google/btree"
)

// folder is the records of one listed folder, ordered by name, so that a
// merge walks them beside the remote's sorted listing instead of hashing
// 100,000 names and sorting what the listing lacked. A B-tree (one
// well-kept library instead of our own sorted structure) keeps the order
// at O(log n) per write.
//
// The records are immutable once set: a change replaces the pointer. So a
// view taken under its owner's lock (a read lock is enough) stays valid
// after the lock is released, and a merge changes nothing it reads.
// A folder is not safe for concurrent use; its owner locks it.
type folder struct {
	t *btree.BTreeG[*record]
}

// folderDegree is the B-tree's degree: nodes of up to 63 records, few
// allocations per write and a short path per lookup.
const folderDegree = 32

func newFolder() *folder {
	return &folder{t: btree.NewG(folderDegree, func(a, b *record) bool { return a.name < b.name })}
}

// set puts r, replacing the record of the same name.
func (f *folder) set(r *record) { f.t.ReplaceOrInsert(r) }

// remove drops name's record, if it is r (a newer one stays).
func (f *folder) remove(r *record) {
	if cur, ok := f.t.Get(r); ok && cur == r {
		f.t.Delete(r)
	}
}

// get returns name's record, nil for none.
func (f *folder) get(name string) *record {
	r, _ := f.t.Get(&record{name: name})
	return r
}

func (f *folder) len() int { return f.t.Len() }

// view is the folder's records as they are now, for one merge.
func (f *folder) view() *sortedRecs {
	recs := make([]*record, 0, f.t.Len())
	f.t.Ascend(func(r *record) bool {
		recs = append(recs, r)
		return true
	})
	return newSortedRecs(recs)
}

// sortedRecs is a dirRecords over records sorted by name. A merge looks
// names up in the listing's (sorted) order, so lookup moves a cursor
// forward instead of searching, and the records it passes over are the
// ones the listing lacks: no set of names, no stamp on the records.
type sortedRecs struct {
	recs   []*record
	looked []bool
	next   int // recs[:next] are below every name asked for so far
}

func newSortedRecs(recs []*record) *sortedRecs {
	return &sortedRecs{recs: recs, looked: make([]bool, len(recs))}
}

func (s *sortedRecs) lookup(name string) *record {
	i := s.next
	if i > 0 && s.recs[i-1].name >= name {
		// Asked out of order (not by a merge): search the whole view.
		i = sort.Search(len(s.recs), func(j int) bool { return s.recs[j].name >= name })
	} else {
		for i < len(s.recs) && s.recs[i].name < name {
			i++
		}
		s.next = i
	}
	if i == len(s.recs) || s.recs[i].name != name {
		return nil
	}
	s.looked[i] = true
	return s.recs[i]
}

// eachMissed calls fn in name order, so what it adds to a listing needs
// no sort.
func (s *sortedRecs) eachMissed(fn func(*record)) {
	for i, r := range s.recs {
		if !s.looked[i] {
			fn(r)
		}
	}
}

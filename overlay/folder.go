package overlay

import "github.com/google/btree"

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
	return &folder{t: btree.NewG(folderDegree, func(a, b *record) bool { return a.key.name < b.key.name })}
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
	r, _ := f.t.Get(&record{key: objectKey{name: name}})
	return r
}

func (f *folder) len() int { return f.t.Len() }

// view is the folder's records as they are now, in name order.
func (f *folder) view() []*record {
	recs := make([]*record, 0, f.t.Len())
	f.t.Ascend(func(r *record) bool {
		recs = append(recs, r)
		return true
	})
	return recs
}

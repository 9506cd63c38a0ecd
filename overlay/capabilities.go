package overlay

// Optional capabilities of a recordStore. The seam (recordStore) holds
// only what the Store needs of every implementation; what one of them can
// tell besides is a small interface of its own, which New checks for once,
// so that no code outside the implementations names a concrete store.

// journaled is a recordStore kept in a local journal, which it reloads at
// open: New logs what came back, and whether the journal was lost.
type journaled interface {
	// journalLost names the journal ("" for none) and tells whether it
	// was missing or empty at open although its marker says it existed.
	journalLost() (path string, lost bool)
}

// marked is a recordStore shared by instances, named by its marker: an id
// equal for every instance sharing the records, new when the store lost
// them ("" until the store first answers).
type marked interface {
	id() string
}

// leased is a recordStore whose background work and per-name locks are
// leases held by one instance at a time.
type leased interface {
	// leading tells whether this instance holds the background lease (it
	// reaps and confirms for all).
	leading() bool
	// leasesHeld counts the per-name leases this instance holds now.
	leasesHeld() int
}

var (
	_ journaled = (*localRecords)(nil)
	_ marked    = (*sharedRecords)(nil)
	_ leased    = (*sharedRecords)(nil)
)

func (o *localRecords) journalLost() (string, bool) {
	if o.journal == nil {
		return "", false
	}
	return o.journal.path, o.journal.lost
}

func (o *sharedRecords) leading() bool   { return o.leader.Load() }
func (o *sharedRecords) leasesHeld() int { return int(o.leases.Load()) }

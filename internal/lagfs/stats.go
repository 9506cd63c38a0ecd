package lagfs

import "sync/atomic"

// Stats counts calls made to one lag Fs, per operation. Every call is
// counted, including those failed by error injection.
type Stats struct {
	List       int64 // Fs.List
	ListR      int64 // Fs.ListR
	NewObject  int64 // Fs.NewObject
	Put        int64 // Fs.Put and Fs.PutStream
	Update     int64 // Object.Update
	Open       int64 // Object.Open
	Remove     int64 // Object.Remove
	SetModTime int64 // Object.SetModTime
	Mkdir      int64 // Fs.Mkdir
	Rmdir      int64 // Fs.Rmdir
	About      int64 // Fs.About

	// Injected is the number of calls failed by error_rate.
	Injected int64
	// MidPut and MidGet count uploads and downloads cut by
	// fail_put_after and fail_get_after; Denied counts calls refused by
	// deny_ops; OverQuota counts puts refused by quota_bytes.
	MidPut, MidGet, Denied, OverQuota int64
	// LagNotFound is the number of NewObject/Open/Remove calls answered
	// not found (or, for Open/Remove, refused) because of the create lag.
	LagNotFound int64
	// LagHidden is the number of fresh objects left out of listings.
	LagHidden int64
}

// Calls is the total number of remote calls.
func (s Stats) Calls() int64 {
	return s.List + s.ListR + s.NewObject + s.Put + s.Update + s.Open +
		s.Remove + s.SetModTime + s.Mkdir + s.Rmdir + s.About
}

type counters struct {
	list, listR, newObject, put, update, open, remove, setModTime,
	mkdir, rmdir, about, injected, lagNotFound, lagHidden,
	midPut, midGet, denied, overQuota atomic.Int64
}

// Stats returns a snapshot of this Fs's call counters.
func (f *Fs) Stats() Stats {
	c := &f.stats
	return Stats{
		List: c.list.Load(), ListR: c.listR.Load(), NewObject: c.newObject.Load(),
		Put: c.put.Load(), Update: c.update.Load(), Open: c.open.Load(),
		Remove: c.remove.Load(), SetModTime: c.setModTime.Load(),
		Mkdir: c.mkdir.Load(), Rmdir: c.rmdir.Load(), About: c.about.Load(),
		Injected: c.injected.Load(), LagNotFound: c.lagNotFound.Load(),
		LagHidden: c.lagHidden.Load(),
		MidPut:    c.midPut.Load(), MidGet: c.midGet.Load(),
		Denied: c.denied.Load(), OverQuota: c.overQuota.Load(),
	}
}

// ResetStats sets every counter back to zero (e.g. between benchmark phases).
func (f *Fs) ResetStats() {
	c := &f.stats
	for _, a := range []*atomic.Int64{&c.list, &c.listR, &c.newObject, &c.put,
		&c.update, &c.open, &c.remove, &c.setModTime, &c.mkdir, &c.rmdir,
		&c.about, &c.injected, &c.lagNotFound, &c.lagHidden,
		&c.midPut, &c.midGet, &c.denied, &c.overQuota} {
		a.Store(0)
	}
}

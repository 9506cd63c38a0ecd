package cache

// Overlay events, counted in Stats and passed to the Observer.
const (
	EventMaskedStale      = "masked_stale_listing"    // a listed object hidden by a tombstone
	EventAddedMissing     = "added_missing_listing"   // a recent create added to a listing that lacked it
	EventReadFromOverlay  = "read_from_overlay"       // HEAD/GET of a write the remote has not confirmed yet
	EventReadAfterRemote  = "read_despite_remote_404" // a read the remote answered not-found, served anyway
	EventDeleteAbsorbed   = "delete_absorbed"         // a DELETE answered 200 while the remote could not remove yet
	EventReapDone         = "reap_done"               // the reaper removed an object the remote had refused to
	EventRetiredConfirmed = "retired_confirmed"       // a record retired because the remote agreed
	EventRetiredTimeout   = "retired_timeout"         // a record retired at the settle window: the guarantee may lapse
)

var eventNames = []string{EventMaskedStale, EventAddedMissing, EventReadFromOverlay, EventReadAfterRemote,
	EventDeleteAbsorbed, EventReapDone, EventRetiredConfirmed, EventRetiredTimeout}

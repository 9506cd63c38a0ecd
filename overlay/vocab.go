package overlay

import "slices"

// The label vocabularies of what the store reports to its Observer. They
// are owned here, next to the code that emits them; metrics takes these
// lists instead of keeping copies, so a rename cannot silently become the
// label "other" (TestEmittedLabelsAreKnown checks every call site).

// Remote operations, passed to Observer.RemoteOp and Observer.Retry.
const (
	OpPut    = "put"
	OpGet    = "get"
	OpDelete = "delete"
	OpList   = "list"
	OpStat   = "stat"
	OpMkdir  = "mkdir"
)

// Results of a remote operation, passed to Observer.RemoteOp.
const (
	ResultOK       = "ok"
	ResultNotFound = "not_found"
	ResultError    = "error"
)

// Kinds of visibility lag, passed to Observer.Visible.
const (
	VisibleCreate = "create" // the remote took this long to show a write
	VisibleDelete = "delete" // the remote took this long to stop showing a delete
)

// Overlay events, counted in Stats and passed to Observer.Event; those
// about one object (see ObjectEvent) also to Observer.Object.
const (
	EventMaskedStale       = "masked_stale_listing"    // a listed object hidden by a tombstone
	EventAddedMissing      = "added_missing_listing"   // a recent create added to a listing that lacked it
	EventReadFromOverlay   = "read_from_overlay"       // HEAD/GET of a write the remote has not confirmed yet
	EventReadAfterRemote   = "read_despite_remote_404" // a read the remote answered not-found, served anyway
	EventDeleteAbsorbed    = "delete_absorbed"         // a DELETE answered 200 while the remote could not remove yet
	EventReapDone          = "reap_done"               // the reaper removed an object the remote had refused to
	EventReapFailed        = "reap_failed"             // the reaper could not remove an object: the remote failed (its lag is not counted)
	EventRetiredConfirmed  = "retired_confirmed"       // a record retired because the remote agreed
	EventRetiredTimeout    = "retired_timeout"         // a record retired at the settle window: the guarantee may lapse
	EventLockDeferred      = "lock_deferred"           // a lock acknowledged from the overlay, its upload deferred (write-behind)
	EventLockNeverUploaded = "lock_never_uploaded"     // a deferred lock deleted before its upload: no remote call at all
	EventSpoolRead         = "spool_read"              // a read of a recent upload served from the spool, not the remote
	EventSpoolSkipped      = "spool_skipped"           // an upload above the content cache's limit the spool could not keep (no room, or the disk refused)
	EventSharedLost        = "shared_overlay_lost"     // the shared overlay's marker vanished: Redis lost the records
	EventLeaseLost         = "shared_lease_lost"       // a lease lapsed while held (Redis out of reach too long)
	EventReapRefused       = "reap_refused"            // a record asked the background for what the policy forbids (a removal under --append-only, a write-behind of anything but a lock): refused, record dropped
	EventJournalLost       = "journal_lost"            // the journal was missing or empty while its marker said it had existed: its records are lost
	EventLocksRepublished  = "locks_republished"       // acknowledged locks this instance published again after the shared overlay lost them
)

// Calls to the shared overlay (Redis), passed to Observer.SharedOp with
// ResultOK or ResultError. The values are the op label of the
// steadyrest_shared_overlay_* metrics, which dashboards use: keep them.
const (
	SharedMarker    = "marker"
	SharedLock      = "lock"
	SharedUnlock    = "unlock"
	SharedRenew     = "renew"
	SharedGet       = "get"
	SharedCreate    = "create"
	SharedContent   = "content"
	SharedPrepare   = "prepare"
	SharedTombstone = "tombstone"
	SharedCancel    = "cancel"
	SharedView      = "view"
	SharedApply     = "apply"
	SharedLead      = "lead"
	SharedDue       = "due"
	SharedFetch     = "fetch"
	SharedRecover   = "recover"
	SharedCounts    = "counts"
)

var (
	opNames      = []string{OpPut, OpGet, OpDelete, OpList, OpStat, OpMkdir}
	resultNames  = []string{ResultOK, ResultNotFound, ResultError}
	visibleKinds = []string{VisibleCreate, VisibleDelete}
	eventNames   = []string{EventMaskedStale, EventAddedMissing, EventReadFromOverlay, EventReadAfterRemote,
		EventDeleteAbsorbed, EventReapDone, EventReapFailed, EventRetiredConfirmed, EventRetiredTimeout, EventLockDeferred, EventLockNeverUploaded, EventSpoolRead, EventSpoolSkipped, EventSharedLost, EventLeaseLost,
		EventReapRefused, EventJournalLost, EventLocksRepublished}
	sharedOps = []string{SharedMarker, SharedLock, SharedUnlock, SharedRenew, SharedGet, SharedCreate,
		SharedContent, SharedPrepare, SharedTombstone, SharedCancel, SharedView, SharedApply, SharedLead,
		SharedDue, SharedFetch, SharedRecover, SharedCounts}
)

// Ops lists every remote operation name the store reports.
func Ops() []string { return slices.Clone(opNames) }

// Results lists every result class of a remote operation.
func Results() []string { return slices.Clone(resultNames) }

// VisibleKinds lists the kinds passed to Observer.Visible.
func VisibleKinds() []string { return slices.Clone(visibleKinds) }

// SharedOps lists every call to the shared overlay the store reports.
func SharedOps() []string { return slices.Clone(sharedOps) }

// Events lists every overlay event the store emits.
func Events() []string { return slices.Clone(eventNames) }

// TypeNames lists the object type names (Types as strings).
func TypeNames() []string {
	out := make([]string, len(Types))
	for i, t := range Types {
		out[i] = string(t)
	}
	return out
}

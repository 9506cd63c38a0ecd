// Package overlay presents restic repositories below one rclone remote path
// as a strongly consistent store, even when the remote is eventually
// consistent (new files missing from listings, deleted ones still listed).
//
// Every write and delete through a Store leaves a record in an overlay:
//
//   - a POST is acknowledged only after the remote confirmed it (size, and
//     hash where the remote has one) and its record is durable; a lock,
//     with a LockUploadDelay, once its record and bytes are durable, and
//     uploaded only if it still exists after the delay (writebehind.go);
//   - a listing is the remote's listing plus recent creates minus recent
//     deletes; a lookup answers from the records first;
//   - a DELETE the remote cannot carry out yet still answers success: a
//     tombstone hides the object and a reaper retries the removal;
//   - a record retires when the remote confirms it (a listing or lookup
//     that started after it agrees), or at the settle window, which is
//     counted and logged because the guarantee can lapse there; the
//     background confirmer looks at a folder once it is quiet, so a burst
//     of writes or deletes is proven in one batch after it (confirm.go),
//     with the narrowest call (a listing of its own data/xx folder, or
//     for deletes a lookup by name where that is cheaper by counts:
//     lookupCheaper), so its cost grows with what was written, not with
//     the repository;
//   - reads of a recent upload come from memory (small objects) or from a
//     bounded disk spool (larger ones, Options.SpoolBytes), before the
//     remote: the spool holds content, never presence (spool.go);
//   - records survive a restart (a bbolt journal), so a deleted lock does
//     not come back; with Options.Overlay they live in Redis instead,
//     shared by every instance given the same URL, and the guarantee holds
//     across them (shared.go);
//   - beside the Store, a PeerWatch lets instances on one remote path see
//     each other through heartbeat objects below ReservedDir, and count
//     those that do not share their overlay, since the guarantee does not
//     hold between them (peers.go).
//
// Writers that bypass the Store are not covered. See design.md for the
// whole contract.
package overlay

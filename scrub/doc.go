// Package scrub checks that a restic repository's objects are intact
// without downloading them: every restic file but config is named by the
// SHA-256 of its content, and many remotes report a file's SHA-256 on
// their own (the local disk hashes it in place, pCloud's EU region answers
// its checksumfile call, Google Drive keeps it in the file's metadata).
//
// # How the remote's SHA-256 is asked for
//
// scrub asks each object, Object.Hash(ctx, hash.SHA256), and treats an
// empty answer or hash.ErrUnsupported as "this remote has no SHA-256 for
// the object"; it does not trust Fs.Hashes() to say beforehand. The reason
// is rclone's pcloud backend: it advertises SHA-256 only when its hostname
// is eapi.pcloud.com, yet its Object.Hash returns whatever checksumfile
// answered, so an EU account reached through another hostname (a proxy,
// the pcloudemu test emulator) does give SHA-256, and a US account gives an
// empty string rather than an error. Once an object answers without a
// SHA-256 on a remote whose Hashes() does not list SHA-256, the remote is
// taken to have none and no further object is asked (one wasted call, not
// one per object). Where Hashes() lists SHA-256, every object is asked,
// since such remotes may lack a hash for single files (multipart uploads).
//
// Objects without a remote SHA-256 are counted as unverified, or, with
// Options.Read, downloaded through rclone's accounting (so --bwlimit and
// --tpslimit apply) and hashed here.
//
// scrub never changes the remote: it only lists, asks for hashes, looks
// objects up and, with Read, opens them for reading. The listing is
// streamed (one page at a time where the backend pages) and objects are
// checked by a bounded pool of workers, so memory does not grow with the
// repository; only findings and errors are kept.
package scrub

package scrub

// Kind names what is wrong with a file.
type Kind string

const (
	// WrongHash: the SHA-256 of the content (as the remote reports it, or as
	// read) is not the file's name. restic will fail to use the file; the
	// pack or index is lost or must be repaired.
	WrongHash Kind = "wrong-hash"
	// WrongSize: the file is shorter than any file restic writes, or a
	// read returned another length than the listing gave.
	WrongSize Kind = "wrong-size"
	// EmptyPack: a 0-byte file in data/, the remains of an upload that
	// failed (restic#3079).
	EmptyPack Kind = "empty-pack"
	// Foreign: a file in one of restic's folders whose name restic never
	// gives (not 64 lowercase hex digits, or a data file outside the
	// data/xx/ folder of its first two digits).
	Foreign Kind = "foreign"
	// Stray: a file or folder where restic keeps none.
	Stray Kind = "stray"
)

// Finding is one file (or folder) that is not as restic wrote it.
type Finding struct {
	Kind Kind `json:"kind"`
	// Repository is the repository's path below the scrubbed remote ("" is
	// the remote itself).
	Repository string `json:"repository"`
	// Path is the file's path below the scrubbed remote; a folder ends in "/".
	Path string `json:"path"`
	// Size in bytes as listed; -1 for a folder.
	Size int64 `json:"size"`
	// SHA256 is the content's hash as reported or read, for WrongHash.
	SHA256 string `json:"sha256,omitempty"`
	// Source says where SHA256 or the size came from: "remote" (the
	// remote's own hash), "read" (downloaded and hashed) or "listing".
	Source string `json:"source,omitempty"`
	// Detail says in a sentence what is wrong.
	Detail string `json:"detail"`
}

// ObjectError is an object scrub could not check.
type ObjectError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Outcome sums a scrub up.
type Outcome string

const (
	// Clean: every object was verified and nothing was found.
	Clean Outcome = "clean"
	// Damaged: at least one finding.
	Damaged Outcome = "damaged"
	// Unverified: no finding, but some objects could not be verified
	// because the remote has no SHA-256 for them and Read was off.
	Unverified Outcome = "unverified"
	// Incomplete: no finding, but some objects could not be checked
	// (errors), or the scrub was stopped.
	Incomplete Outcome = "incomplete"
)

// Exit codes of `steadyrest scrub`: 1 is "failed to run" and 2 "usage", as
// for every steadyrest command.
const (
	ExitClean      = 0
	ExitFailed     = 1
	ExitUsage      = 2
	ExitDamaged    = 3
	ExitUnverified = 4
)

// ExitCode is the process exit code for the outcome.
func (o Outcome) ExitCode() int {
	switch o {
	case Clean:
		return ExitClean
	case Damaged:
		return ExitDamaged
	case Unverified:
		return ExitUnverified
	default:
		return ExitFailed
	}
}

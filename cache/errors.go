package cache

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fserrors"
)

// Kind classifies a remote failure, so that the proxy can pick a status
// restic handles well and the store never retries what cannot heal.
type Kind int

// Kinds of remote failure.
const (
	// KindTransient may heal on retry (network trouble, 5xx, rate limit,
	// anything not known to be permanent).
	KindTransient Kind = iota
	// KindInsufficientStorage: the remote is full or over quota.
	KindInsufficientStorage
	// KindPermissionDenied: the remote refuses the operation for good.
	KindPermissionDenied
	// KindPermanent: the backend marked the error as not worth retrying
	// (fserrors.NoRetryError or FatalError) for another reason.
	KindPermanent
)

func (k Kind) String() string {
	switch k {
	case KindInsufficientStorage:
		return "insufficient storage"
	case KindPermissionDenied:
		return "permission denied"
	case KindPermanent:
		return "permanent"
	default:
		return "transient"
	}
}

// Sentinels matched by errors.Is on a *RemoteError of that kind.
var (
	ErrInsufficientStorage = errors.New("remote storage is full or over quota")
	ErrPermissionDenied    = errors.New("remote denied permission")
	ErrPermanent           = errors.New("remote failure that will not heal by retrying")
)

// quotaPhrases are how backends that do not wrap ENOSPC say the same thing
// (pCloud "User is over quota. (2008)", Drive "storageQuotaExceeded",
// OneDrive "quotaLimitReached", HTTP 507 "Insufficient Storage").
var quotaPhrases = []string{"quota", "insufficient storage", "insufficient_storage", "no space left", "storage full", "not enough space"}

// Classify tells what kind of remote failure err is.
func Classify(err error) Kind {
	if err == nil {
		return KindTransient
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return KindInsufficientStorage
	}
	if errors.Is(err, fs.ErrorPermissionDenied) || errors.Is(err, os.ErrPermission) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS) {
		return KindPermissionDenied
	}
	msg := strings.ToLower(err.Error())
	for _, p := range quotaPhrases {
		if strings.Contains(msg, p) {
			return KindInsufficientStorage
		}
	}
	if fserrors.IsNoRetryError(err) || fserrors.IsFatalError(err) {
		return KindPermanent
	}
	return KindTransient
}

// Kind classifies the remote failure.
func (e *RemoteError) Kind() Kind { return Classify(e.Err) }

// Is lets errors.Is(err, ErrInsufficientStorage / ErrPermissionDenied /
// ErrPermanent) hold for a RemoteError of that kind.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrInsufficientStorage:
		return e.Kind() == KindInsufficientStorage
	case ErrPermissionDenied:
		return e.Kind() == KindPermissionDenied
	case ErrPermanent:
		return e.Kind() != KindTransient
	}
	return false
}

// IsPermanent reports whether err is a remote failure that retrying will
// not fix (full, denied, or marked no-retry by the backend).
func IsPermanent(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Kind() != KindTransient
	}
	return Classify(err) != KindTransient
}

func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) ||
		errors.Is(err, fs.ErrorIsDir)
}

// RemoteError is a failure of the remote (as opposed to a bad request).
type RemoteError struct {
	Op  string
	Err error
}

func (e *RemoteError) Error() string {
	if k := e.Kind(); k != KindTransient {
		return e.Op + ": remote " + k.String() + ": " + e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}
func (e *RemoteError) Unwrap() error { return e.Err }

// remoteErr maps rclone's not-found errors to ErrNotFound and wraps the rest.
func remoteErr(op string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return &RemoteError{Op: op, Err: err}
}

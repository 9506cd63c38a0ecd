package overlay

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"

	pcloudapi "github.com/rclone/rclone/backend/pcloud/api"
	webdavapi "github.com/rclone/rclone/backend/webdav/api"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fserrors"
	"github.com/rclone/rclone/lib/file"
)

// failure classifies a remote failure, so that the proxy can pick a status
// (through the Err* sentinels) restic handles well and the store never retries what cannot heal.
type failure int

// Classes of remote failure.
const (
	// failTransient may heal on retry (network trouble, 5xx, rate limit,
	// anything not known to be permanent).
	failTransient failure = iota
	// failStorage: the remote is full or over quota.
	failStorage
	// failDenied: the remote refuses the operation for good.
	failDenied
	// failPermanent: the backend marked the error as not worth retrying
	// (fserrors.NoRetryError or FatalError) for another reason.
	failPermanent
)

func (k failure) String() string {
	switch k {
	case failStorage:
		return "insufficient storage"
	case failDenied:
		return "permission denied"
	case failPermanent:
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

// ErrOverlayUnavailable is matched by errors.Is on a failure of the shared
// overlay (Redis out of reach): the request waits for it, restic retries.
var ErrOverlayUnavailable = errors.New("the shared overlay (Redis) is out of reach")

// quotaPhrases are how backends that do not wrap ENOSPC say the same thing
// (pCloud "User is over quota. (2008)", Drive "storageQuotaExceeded",
// OneDrive "quotaLimitReached", HTTP 507 "Insufficient Storage", EFBIG's
// "file too large" through SFTP, rclone's "file too big for remaining disk
// space").
var quotaPhrases = []string{"quota", "insufficient storage", "insufficient_storage", "no space left", "storage full", "not enough space",
	"file too big", "file too large"}

// classify tells what kind of remote failure err is.
func classify(err error) failure {
	if err == nil {
		return failTransient
	}
	// The local backend's failed preallocation is a plain error, not ENOSPC.
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) || errors.Is(err, file.ErrDiskFull) {
		return failStorage
	}
	if errors.Is(err, fs.ErrorPermissionDenied) || errors.Is(err, os.ErrPermission) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS) {
		return failDenied
	}
	msg := strings.ToLower(err.Error())
	for _, p := range quotaPhrases {
		if strings.Contains(msg, p) {
			return failStorage
		}
	}
	if fserrors.IsNoRetryError(err) || fserrors.IsFatalError(err) {
		return failPermanent
	}
	return failTransient
}

// failure classifies the remote failure.
func (e *RemoteError) failure() failure { return classify(e.Err) }

// Is lets errors.Is(err, ErrInsufficientStorage / ErrPermissionDenied /
// ErrPermanent) hold for a RemoteError of that kind.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrInsufficientStorage:
		return e.failure() == failStorage
	case ErrPermissionDenied:
		return e.failure() == failDenied
	case ErrPermanent:
		return e.failure() != failTransient
	}
	return false
}

// isPermanent reports whether err is a remote failure that retrying will
// not fix (full, denied, or marked no-retry by the backend).
func isPermanent(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.failure() != failTransient
	}
	return classify(err) != failTransient
}

func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) ||
		errors.Is(err, fs.ErrorIsDir) || answeredNotFound(err)
}

// answeredNotFound tells a not-found answer that the backend passes on as
// it came, not as rclone's error: WebDAV's 404 to a DELETE, pCloud's
// "File not found (2009)". On a lagging remote they are the lag itself
// (a fresh upload it does not show yet), not a failure.
func answeredNotFound(err error) bool {
	var dav *webdavapi.Error
	var pc *pcloudapi.Error
	return errors.As(err, &dav) && dav.StatusCode == http.StatusNotFound ||
		errors.As(err, &pc) && pc.Result == 2009
}

// RemoteError is a failure of the remote (as opposed to a bad request).
type RemoteError struct {
	Op  string
	Err error
}

func (e *RemoteError) Error() string {
	if k := e.failure(); k != failTransient {
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

// resultOf classifies a remote call's outcome for the Observer, so that
// callers need not know rclone's errors.
func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, fs.ErrorObjectNotFound), errors.Is(err, fs.ErrorDirNotFound):
		return ResultNotFound
	default:
		return ResultError
	}
}

package overlay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	rhash "github.com/rclone/rclone/fs/hash"
)

// verifyReader streams an upload to the remote while checking it. Its one
// trick: it withholds the final bytes of the body until the SHA-256 and the
// length are known to be right. A backend that stops reading at the declared
// size (many do, and never see EOF) therefore never receives a complete bad
// object, so a bad upload cannot land under its final name.
type verifyReader struct {
	r        io.Reader
	size     int64
	n        int64
	want     []byte             // expected SHA-256, or nil
	sha      hash.Hash          // nil when neither want nor the remote needs it
	remote   *rhash.MultiHasher // the remote's confirmation hash when not SHA-256
	remoteT  rhash.Type
	err      error         // the first verification failure
	failed   chan struct{} // closed when err is set
	onFail   func()        // called once, when err is set
	finished bool
}

func newVerifyReader(r io.Reader, size int64, want []byte, remoteT rhash.Type) (*verifyReader, error) {
	v := &verifyReader{r: r, size: size, want: want, remoteT: remoteT, failed: make(chan struct{})}
	if want != nil || remoteT == rhash.SHA256 {
		v.sha = sha256.New()
	}
	if remoteT != rhash.None && remoteT != rhash.SHA256 {
		h, err := rhash.NewMultiHasherTypes(rhash.NewHashSet(remoteT))
		if err != nil {
			return nil, fmt.Errorf("remote hash %v: %w", remoteT, err)
		}
		v.remote = h
	}
	return v, nil
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.finished {
		return 0, io.EOF
	}
	// Read at most one byte past the declared size, to detect a long body.
	if rest := v.size - v.n + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := v.r.Read(p)
	if n > 0 {
		if v.n+int64(n) > v.size {
			return v.fail(fmt.Errorf("%w: body is longer than %d bytes", ErrSizeMismatch, v.size))
		}
		v.n += int64(n)
		if v.sha != nil {
			v.sha.Write(p[:n])
		}
		if v.remote != nil {
			v.remote.Write(p[:n])
		}
		if v.n == v.size {
			if ferr := v.check(); ferr != nil {
				return v.fail(ferr)
			}
			v.finished = true
			return n, io.EOF
		}
		if err == io.EOF {
			err = nil // more bytes are owed; the next Read reports the short body
		}
		return n, err
	}
	if err == io.EOF {
		if v.n == v.size { // empty body
			if ferr := v.check(); ferr != nil {
				return v.fail(ferr)
			}
			v.finished = true
			return 0, io.EOF
		}
		return v.fail(fmt.Errorf("%w: body ended after %d of %d bytes", ErrSizeMismatch, v.n, v.size))
	}
	if err != nil {
		return v.fail(fmt.Errorf("read upload body: %w", err))
	}
	return 0, nil
}

// fail records the first failure; every later Read returns it without
// touching the body, so the body may be abandoned once failed is closed.
func (v *verifyReader) fail(err error) (int, error) {
	v.err = err
	if v.onFail != nil {
		v.onFail() // before the backend sees the error
	}
	close(v.failed)
	return 0, err
}

// rejected reports whether the body failed verification. The failure is
// readable from v.err once it returns true.
func (v *verifyReader) rejected() bool {
	select {
	case <-v.failed:
		return true
	default:
		return false
	}
}

func (v *verifyReader) check() error {
	if v.want != nil && !bytes.Equal(v.sha.Sum(nil), v.want) {
		return ErrHashMismatch
	}
	return nil
}

// remoteSum is the hex digest to compare with the remote's hash.
func (v *verifyReader) remoteSum() string {
	if v.remoteT == rhash.SHA256 {
		return hex.EncodeToString(v.sha.Sum(nil))
	}
	if v.remote != nil {
		return v.remote.Sums()[v.remoteT]
	}
	return ""
}

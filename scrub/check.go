package scrub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/hash"
)

// minFileSize is the shortest file restic writes: every file but the
// (JSON, much longer) keys is encrypted, and the encryption alone adds a
// 16-byte IV and a 16-byte MAC.
const minFileSize = 32

// how an object's SHA-256 was learnt.
type source int

const (
	srcNone   source = iota // the remote has none and Read is off
	srcRemote               // the remote's own hash
	srcRead                 // downloaded and hashed
)

// check verifies one hash-named object against its name.
func (s *scrubber) check(ctx context.Context, j job) {
	if ctx.Err() != nil {
		return
	}
	o := j.o
	name, size := path.Base(o.Remote()), o.Size()
	s.objects.Add(1)
	s.bytes.Add(max(size, 0))

	// Sizes are known from the listing: these need no hash at all, and
	// are found on remotes without SHA-256 too.
	switch {
	case j.pack && size == 0:
		s.add(Finding{Kind: EmptyPack, Repository: j.repo, Path: o.Remote(), Size: 0, Source: "listing",
			Detail: "an empty pack: an upload failed and left 0 bytes where restic's pack should be"})
		return
	case size >= 0 && size < minFileSize:
		s.add(Finding{Kind: WrongSize, Repository: j.repo, Path: o.Remote(), Size: size, Source: "listing",
			Detail: fmt.Sprintf("%d bytes, shorter than any file restic writes (%d)", size, minFileSize)})
		return
	}

	sum, n, src, err := s.sum(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if _, nerr := s.f.NewObject(ctx, o.Remote()); errors.Is(nerr, fs.ErrorObjectNotFound) {
			s.mu.Lock()
			s.rep.Vanished++
			s.mu.Unlock()
			return
		}
		s.fail(o.Remote(), err)
		return
	}
	switch {
	case src == srcNone:
		s.mu.Lock()
		s.rep.Unverified++
		s.mu.Unlock()
	case src == srcRead && size >= 0 && n != size:
		s.add(Finding{Kind: WrongSize, Repository: j.repo, Path: o.Remote(), Size: size, Source: "read",
			Detail: fmt.Sprintf("listed as %d bytes, but %d bytes were read", size, n)})
	case sum != name:
		s.add(Finding{Kind: WrongHash, Repository: j.repo, Path: o.Remote(), Size: size, SHA256: sum, Source: src.String(),
			Detail: "the content's SHA-256 is not the file's name: it was cut short or changed after restic wrote it"})
	default:
		s.mu.Lock()
		if src == srcRemote {
			s.rep.VerifiedRemote++
		} else {
			s.rep.VerifiedRead++
		}
		s.mu.Unlock()
	}
}

func (src source) String() string {
	switch src {
	case srcRemote:
		return "remote"
	case srcRead:
		return "read"
	}
	return ""
}

// sum returns o's SHA-256: the remote's, else (with Read) the content's
// and the number of bytes read, else src none.
func (s *scrubber) sum(ctx context.Context, o fs.Object) (sum string, n int64, src source, err error) {
	if !s.noRemoteHash.Load() {
		sum, err := s.remoteHash(ctx, o)
		switch {
		case err == nil && sum != "":
			return sum, 0, srcRemote, nil
		case err != nil && !errors.Is(err, hash.ErrUnsupported):
			return "", 0, srcNone, fmt.Errorf("ask the remote for the SHA-256: %w", err)
		}
		s.noHash(o)
	}
	if !s.opt.Read {
		return "", 0, srcNone, nil
	}
	sum, n, err = s.read(ctx, o)
	if err != nil {
		return "", 0, srcNone, err
	}
	return sum, n, srcRead, nil
}

// remoteHash asks the remote for o's SHA-256. Where the remote does not
// advertise SHA-256, the first ask is made alone and its answer decides
// (noHash) before any other checker asks: a remote that keeps none is
// asked once, not once per checker. A failed ask decides nothing.
func (s *scrubber) remoteHash(ctx context.Context, o fs.Object) (string, error) {
	if s.advertised || s.asked.Load() {
		return o.Hash(ctx, hash.SHA256)
	}
	s.firstAsk.Lock()
	defer s.firstAsk.Unlock()
	if s.asked.Load() {
		if s.noRemoteHash.Load() {
			return "", nil
		}
		return o.Hash(ctx, hash.SHA256)
	}
	sum, err := o.Hash(ctx, hash.SHA256)
	none := errors.Is(err, hash.ErrUnsupported) || (err == nil && sum == "")
	if none {
		s.noHash(o)
	}
	if err == nil || none {
		s.asked.Store(true)
	}
	return sum, err
}

// noHash notes that o came without a SHA-256; on a remote that does not
// advertise SHA-256 that stands for every object, so none is asked again.
func (s *scrubber) noHash(o fs.Object) {
	if s.advertised {
		return
	}
	if s.noRemoteHash.CompareAndSwap(false, true) {
		s.mu.Lock()
		s.rep.NoRemoteHash = fmt.Sprintf("the remote (%s) reports no SHA-256 (its hashes: %v)", s.f.Name(), s.f.Hashes())
		s.mu.Unlock()
		s.opt.Logger.Warn("scrub: the remote has no SHA-256", "first_object", o.Remote(), "read", s.opt.Read)
	}
}

// read downloads o and hashes it. The reader goes through rclone's
// accounting, where --bwlimit is applied (--tpslimit applies to every
// HTTP call anyway).
func (s *scrubber) read(ctx context.Context, o fs.Object) (string, int64, error) {
	tr := accounting.Stats(ctx).NewTransfer(o, nil)
	in, err := o.Open(ctx)
	if err != nil {
		tr.Done(ctx, err)
		return "", 0, fmt.Errorf("open for reading: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, tr.Account(ctx, in))
	tr.Done(ctx, err) // closes in
	s.readBytes.Add(n)
	if err != nil {
		return "", n, fmt.Errorf("read: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// fail records an object that could not be checked.
func (s *scrubber) fail(p string, err error) {
	s.opt.Logger.Warn("scrub: cannot check object", "path", p, "err", err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.ErrorCount++
	if len(s.rep.Errors) < maxErrors {
		s.rep.Errors = append(s.rep.Errors, ObjectError{Path: p, Error: err.Error()})
	}
}

package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/steadyrest/steadyrest/internal/testutil"
)

func TestBadUploadsStoreNothing(t *testing.T) {
	f := testutil.LagFs(t)
	s := newStore(t, f, Options{})
	data := bytes.Repeat([]byte("x"), 3<<20) // larger than the content cache limit
	sum := sha256.Sum256(data)
	h := Handle{Repo: "repo", Type: Data, Name: hex.EncodeToString(sum[:])}
	ctx := context.Background()

	wrong := sha256.Sum256([]byte("other"))
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: wrong[:]}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("wrong hash: err = %v", err)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data[:len(data)-1]), int64(len(data)), PutOptions{SHA256: sum[:]}); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("short body: err = %v", err)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)-1), PutOptions{}); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("long body: err = %v", err)
	}
	if got := rawNames(t, f, "repo/data"); len(got) != 0 {
		t.Fatalf("bad uploads left %v on the remote", got)
	}
	if _, err := s.Lookup(ctx, h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after bad uploads: %v", err)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{SHA256: sum[:], NoOverwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got := rawNames(t, f, "repo/data"); !slices.Equal(got, []string{h.Name}) {
		t.Fatalf("remote holds %v, want the data object", got)
	}
	if err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)), PutOptions{NoOverwrite: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite in no-overwrite mode: %v", err)
	}
}

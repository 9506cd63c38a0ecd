package overlay

import (
	"context"
	"slices"
	"testing"

	"github.com/steadyrest/steadyrest/internal/lagfs"
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// Within listCacheTTL a client's listing reuses the last remote listing,
// and the overlay keeps it correct for every write and delete through us;
// small objects the remote showed are read from it once.
func TestListingAndReadCacheStayCorrect(t *testing.T) {
	f := testutil.LagFs(t)
	lf, _ := lagfs.FromFs(f)
	s := newStore(t, f, Options{})
	a, _ := obj("first lock")
	put(t, s, a, "first lock")
	names(t, s, "repo", Locks) // the one remote listing
	lists := lf.Stats().List + lf.Stats().ListR

	b, _ := obj("second lock")
	put(t, s, b, "second lock")
	if err := s.Remove(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s, "repo", Locks); !slices.Equal(got, []string{b.Name}) {
		t.Fatalf("cached listing after a write and a delete: %v, want [%s]", got, b.Name)
	}
	if n := lf.Stats().List + lf.Stats().ListR; n != lists {
		t.Errorf("listing inside the TTL went to the remote (%d calls, want %d)", n, lists)
	}

	// An object only the remote knows (written before this store existed).
	s2 := newStore(t, f, Options{})
	opens := lf.Stats().Open
	for range 3 {
		if got, err := read(t, s2, b); err != nil || got != "second lock" {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	if n := lf.Stats().Open - opens; n != 1 {
		t.Errorf("3 reads of a small object opened it %d times on the remote, want 1", n)
	}
}

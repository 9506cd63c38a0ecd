package testutil

import (
	"slices"
	"sync"
	"testing"
)

// Adders and a reader at once (under -race an unlocked list fails here);
// All is a copy, in each adder's order.
func TestListConcurrentAdds(t *testing.T) {
	var l List[int]
	const adders, n = 4, 500
	var wg sync.WaitGroup
	for a := range adders {
		wg.Go(func() {
			for i := range n {
				l.Add(a*n + i)
			}
		})
	}
	wg.Go(func() {
		for range n {
			_ = l.All()
		}
	})
	wg.Wait()
	all := l.All()
	if len(all) != adders*n {
		t.Fatalf("%d items, want %d", len(all), adders*n)
	}
	for a := range adders {
		var mine []int
		for _, v := range all {
			if v/n == a {
				mine = append(mine, v)
			}
		}
		if !slices.IsSorted(mine) || len(mine) != n {
			t.Fatalf("adder %d's items out of order or lost: %d of %d", a, len(mine), n)
		}
	}
	all[0] = -1
	if l.All()[0] == -1 {
		t.Fatal("All returned the list's own slice, not a copy")
	}
}

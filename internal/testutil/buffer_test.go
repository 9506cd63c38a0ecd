package testutil

import (
	"strings"
	"sync"
	"testing"
)

// Writers and a reader at once: under -race an unlocked buffer fails here,
// and every write lands whole.
func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	const writers, lines = 8, 200
	line := strings.Repeat("x", 63) + "\n"
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range lines {
				if i%2 == 0 {
					b.Write([]byte(line))
				} else {
					b.WriteString(line)
				}
			}
		})
	}
	wg.Go(func() {
		for range lines {
			_ = b.String()
		}
	})
	wg.Wait()
	got := b.String()
	if len(got) != writers*lines*len(line) {
		t.Fatalf("%d bytes written, want %d", len(got), writers*lines*len(line))
	}
	for i, l := range strings.SplitAfter(got, "\n")[:writers*lines] {
		if l != line {
			t.Fatalf("line %d torn: %q", i, l)
		}
	}
}

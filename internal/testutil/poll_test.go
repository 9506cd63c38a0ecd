package testutil

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilHoldsAfterSomeCalls(t *testing.T) {
	var calls atomic.Int32
	if !Until(time.Minute, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Until gave up on a condition that came true")
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("cond asked %d times, want 3 (stop at the first true)", n)
	}
}

func TestUntilGivesUpAfterTheBound(t *testing.T) {
	var calls atomic.Int32
	if Until(30*time.Millisecond, func() bool { calls.Add(1); return false }) {
		t.Fatal("Until reported a condition that never held")
	}
	if calls.Load() < 2 {
		t.Fatalf("cond asked %d times, want it polled", calls.Load())
	}
}

// fatalRecorder is a testing.TB that keeps its Fatalf message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventuallyFailsWithWhat(t *testing.T) {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(r, "the lock uploaded", 20*time.Millisecond, func() bool { return false })
	}()
	<-done
	if want := "the lock uploaded: not within 20ms"; r.msg != want {
		t.Fatalf("failure %q, want %q", r.msg, want)
	}
}

func TestEventuallyPassesAndReturns(t *testing.T) {
	var calls atomic.Int32
	if took := Eventually(t, "third call", time.Minute, func() bool { return calls.Add(1) == 3 }); took < 2*PollEvery {
		t.Fatalf("took %v for the third call, want at least two polls (%v)", took, 2*PollEvery)
	}
}

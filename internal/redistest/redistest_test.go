package redistest

import "testing"

// The server answers, goes away on Stop, keeps nothing across a restart
// without persistence, and answers again after Restart.
func TestStartStopRestart(t *testing.T) {
	for _, opt := range []Options{{}, {TCP: true, AppendOnly: true}} {
		s := Start(t, opt)
		if err := s.ping(); err != nil {
			t.Fatalf("%+v: ping after Start: %v", opt, err)
		}
		s.Stop()
		if err := s.ping(); err == nil {
			t.Fatalf("%+v: ping answered after Stop", opt)
		}
		if s.Running() {
			t.Fatalf("%+v: Running after Stop", opt)
		}
		s.Restart()
		if err := s.ping(); err != nil {
			t.Fatalf("%+v: ping after Restart: %v", opt, err)
		}
	}
}

package consistency

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Why porcupine: checking that a concurrent history is linearizable is an
// NP-complete search with well-known pitfalls (partial orders, pending
// operations); porcupine is a small, dependency-free, widely used checker
// (from MIT 6.824) with per-key partitioning and a visualiser for failed
// histories. Writing our own would be a second thing to test.

type linOpKind int

const (
	opPut linOpKind = iota
	opDelete
	opHead
	opGet
	opList
)

func (k linOpKind) String() string {
	return [...]string{"POST", "DELETE", "HEAD", "GET", "LIST"}[k]
}

type linInput struct {
	key  int
	kind linOpKind
}

// linOutput is what the client observed. present is the read result
// (HEAD/GET status 200, or the name in the listing); badContent marks a GET
// that answered 200 with bytes other than the key's content.
type linOutput struct {
	status     int
	present    bool
	badContent bool
}

// registerModel: per lock name, state absent | present(content). The
// content of a name is fixed (the name is its SHA-256), so the state is a
// bool. A listing is split into one read per name it could have contained.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		present := state.(bool)
		in, out := input.(linInput), output.(linOutput)
		switch in.kind {
		case opPut:
			return out.status == http.StatusOK, true
		case opDelete:
			switch out.status {
			case http.StatusOK:
				return true, false
			case http.StatusNotFound:
				// Only a missing object may answer 404.
				return !present, false
			}
			return false, present
		default:
			if out.badContent {
				return false, present
			}
			return out.present == present, present
		}
	},
	Equal: func(a, b any) bool { return a.(bool) == b.(bool) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		return fmt.Sprintf("%v k%d -> %d present=%v", in.kind, in.key, out.status, out.present)
	},
	DescribeState: func(state any) string {
		if state.(bool) {
			return "present"
		}
		return "absent"
	},
}

// recordHistory runs clients concurrent clients for about dur (and at most
// opsPerClient operations each) against repo on base, on keys lock names,
// and records every call and return. A list is recorded as one read per key.
// strict fails the test on a transport error or an unexpected status;
// otherwise (the server under comparison) they are logged and end that
// client's history, which is evidence enough against that server.
func recordHistory(t *testing.T, base string, clients, keys, opsPerClient int, dur time.Duration, strict bool) []porcupine.Operation {
	t.Helper()
	report := t.Errorf
	if !strict {
		report = t.Logf
	}
	r := rest{t: t, base: base, c: &http.Client{Timeout: 30 * time.Second}}
	r.must(http.MethodPost, "/?create=true", nil, http.StatusOK)
	names := make([]string, keys)
	datas := make([][]byte, keys)
	for k := range names {
		names[k], datas[k] = lockBlob(fmt.Sprintf("linearizability lock %d", k))
	}
	start := time.Now()
	var (
		mu   sync.Mutex
		hist []porcupine.Operation
		wg   sync.WaitGroup
	)
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c)+1, 99))
			for i := 0; i < opsPerClient && time.Since(start) < dur; i++ {
				// Jitter between calls so clients interleave differently.
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				k := rng.IntN(keys)
				var kind linOpKind
				switch p := rng.IntN(10); {
				case p < 3:
					kind = opPut
				case p < 5:
					kind = opDelete
				case p < 7:
					kind = opHead
				case p < 8:
					kind = opGet
				default:
					kind = opList
				}
				call := time.Since(start).Nanoseconds()
				var ops []porcupine.Operation
				switch kind {
				case opList:
					m, err := r.listNames("locks")
					ret := time.Since(start).Nanoseconds()
					if err != nil {
						report("client %d: list: %v", c, err)
						return
					}
					for k2, n := range names {
						_, ok := m[n]
						ops = append(ops, porcupine.Operation{ClientId: c, Input: linInput{k2, opList},
							Call: call, Output: linOutput{status: 200, present: ok}, Return: ret})
					}
				default:
					method, body := map[linOpKind]string{opPut: http.MethodPost, opDelete: http.MethodDelete, opHead: http.MethodHead, opGet: http.MethodGet}[kind], []byte(nil)
					if kind == opPut {
						body = datas[k]
					}
					code, got, err := r.do(method, "/locks/"+names[k], body)
					ret := time.Since(start).Nanoseconds()
					if err != nil {
						report("client %d: %v", c, err)
						return
					}
					out := linOutput{status: code, present: code == http.StatusOK}
					if kind == opGet && code == http.StatusOK && !bytes.Equal(got, datas[k]) {
						out.badContent = true
					}
					if kind != opPut && kind != opDelete && code != http.StatusOK && code != http.StatusNotFound {
						report("client %d: %s %s: unexpected status %d: %s", c, method, names[k][:10], code, got)
						return
					}
					ops = append(ops, porcupine.Operation{ClientId: c, Input: linInput{k, kind}, Call: call, Output: out, Return: ret})
				}
				mu.Lock()
				hist = append(hist, ops...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return hist
}

// checkHistory runs porcupine; keep writes the visualisation of a failed
// check to a file that outlives the test.
func checkHistory(t *testing.T, name string, hist []porcupine.Operation, keep bool) porcupine.CheckResult {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(registerModel, hist, 30*time.Second)
	if res != porcupine.Ok && keep {
		// The visualisation shows the longest linearizable prefix per key
		// and where it breaks.
		p := filepath.Join(os.TempDir(), fmt.Sprintf("porcupine-%s-%d.html", name, time.Now().UnixNano()))
		if err := porcupine.VisualizePath(registerModel, info, p); err == nil {
			t.Logf("%s: porcupine visualisation in %s", name, p)
		}
	}
	return res
}

const (
	linClients      = 6
	linKeys         = 3
	linOpsPerClient = 60
	linDuration     = 6 * time.Second
)

// TestLinearizableLocks: concurrent POST/DELETE/HEAD/GET/list of a few lock
// names through steadyrest on a lagging remote (3s lag, 1s jitter) form a
// linearizable history per name; through rclone serve restic on the same
// kind of remote they do not, which shows the checker catches violations.
func TestLinearizableLocks(t *testing.T) {
	t.Run("steadyrest", func(t *testing.T) {
		srv := startSteadyrest(t, lagRemote(t, "3s", "jitter=1s"))
		hist := recordHistory(t, "http://"+srv.Addr+"/lin", linClients, linKeys, linOpsPerClient, linDuration, true)
		if len(hist) < 100 {
			t.Fatalf("only %d operations recorded", len(hist))
		}
		res := checkHistory(t, "steadyrest", hist, true)
		if res != porcupine.Ok {
			t.Fatalf("history of %d operations through steadyrest is not linearizable: %v", len(hist), res)
		}
		t.Logf("steadyrest: %d operations (lists counted per key) on %d keys by %d clients: linearizable (%v)", len(hist), linKeys, linClients, res)
	})
	t.Run("rclone-serve-restic", func(t *testing.T) {
		srv := startRclone(t, lagRemote(t, "3s", "jitter=1s"))
		hist := recordHistory(t, "http://"+srv.Addr+"/lin", linClients, linKeys, linOpsPerClient, linDuration, false)
		res := checkHistory(t, "rclone", hist, false)
		if res != porcupine.Illegal {
			t.Fatalf("history of %d operations through rclone serve restic on a lagging remote: porcupine says %v, want Illegal (not linearizable)", len(hist), res)
		}
		t.Logf("rclone serve restic: %d operations: porcupine result %v (not linearizable), as expected", len(hist), res)
	})
}

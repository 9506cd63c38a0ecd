package consistency

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// server is the index of the base URL the call went to; the model
	// ignores it (all servers are one repository), the description shows it.
	server int
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
		return fmt.Sprintf("%v k%d @%d -> %d present=%v", in.kind, in.key, in.server, out.status, out.present)
	},
	DescribeState: func(state any) string {
		if state.(bool) {
			return "present"
		}
		return "absent"
	},
}

// LinConfig sizes one recorded history of concurrent lock operations.
type LinConfig struct {
	// Bases are base URLs of one repository (http://host:port/repo), one
	// per server in front of it. Client c's i-th operation goes to
	// Bases[(c+i)%len(Bases)], so every client's consecutive calls move
	// from server to server.
	Bases []string
	// Clients run concurrently, each for about Duration and at most
	// OpsPerClient operations, on Keys lock names.
	Clients, Keys, OpsPerClient int
	Duration                    time.Duration
	// Strict fails the test on a transport error or an unexpected status;
	// otherwise (a server under comparison) they are logged and end that
	// client's history, which is evidence enough against that server.
	Strict bool
}

// RecordLockHistory runs cfg's clients against the repository (created
// through Bases[0]) and records every call and return. A list is recorded
// as one read per key.
func RecordLockHistory(t testing.TB, cfg LinConfig) []porcupine.Operation {
	t.Helper()
	if len(cfg.Bases) == 0 {
		t.Fatal("RecordLockHistory: no base URL")
	}
	report := t.Errorf
	if !cfg.Strict {
		report = t.Logf
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	servers := make([]rest, len(cfg.Bases))
	for i, b := range cfg.Bases {
		servers[i] = rest{t: t, base: b, c: hc}
	}
	servers[0].must(http.MethodPost, "/?create=true", nil, http.StatusOK)
	names := make([]string, cfg.Keys)
	datas := make([][]byte, cfg.Keys)
	for k := range names {
		names[k], datas[k] = lockBlob(fmt.Sprintf("linearizability lock %d", k))
	}
	start := time.Now()
	var (
		mu   sync.Mutex
		hist []porcupine.Operation
		wg   sync.WaitGroup
	)
	for c := 0; c < cfg.Clients; c++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c)+1, 99))
			for i := 0; i < cfg.OpsPerClient && time.Since(start) < cfg.Duration; i++ {
				// Jitter between calls so clients interleave differently.
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				srv := (c + i) % len(servers)
				r := servers[srv]
				k := rng.IntN(cfg.Keys)
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
						report("client %d: list through server %d: %v", c, srv, err)
						return
					}
					for k2, n := range names {
						_, ok := m[n]
						ops = append(ops, porcupine.Operation{ClientId: c, Input: linInput{k2, opList, srv},
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
						report("client %d: through server %d: %v", c, srv, err)
						return
					}
					out := linOutput{status: code, present: code == http.StatusOK}
					if kind == opGet && code == http.StatusOK && !bytes.Equal(got, datas[k]) {
						out.badContent = true
					}
					// A POST answers 200; a DELETE 200, or 404 for a missing
					// object; a read 200 or 404. Anything else (a 503 from an
					// overlay out of reach) is a failure of its own, not a
					// question for the model.
					if code != http.StatusOK && (kind == opPut || code != http.StatusNotFound) {
						report("client %d: %s %s through server %d: unexpected status %d: %s", c, method, names[k][:10], srv, code, got)
						return
					}
					ops = append(ops, porcupine.Operation{ClientId: c, Input: linInput{k, kind, srv}, Call: call, Output: out, Return: ret})
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

// CheckLockHistory runs porcupine on a history of RecordLockHistory; keep
// writes the visualisation of a failed check to a file that outlives the
// test.
func CheckLockHistory(t testing.TB, name string, hist []porcupine.Operation, keep bool) porcupine.CheckResult {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(registerModel, hist, 30*time.Second)
	if res != porcupine.Ok {
		t.Logf("%s: %s", name, describeBreak(hist, info))
	}
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

// describeBreak tells, for each key whose history porcupine could not
// linearize, the end of the longest linearizable prefix and the operations
// that follow it by call time: where to look, without the visualisation.
func describeBreak(hist []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var b strings.Builder
	at := func(op porcupine.Operation) string {
		return fmt.Sprintf("%s [%.1f..%.1f ms, client %d]", registerModel.DescribeOperation(op.Input, op.Output),
			float64(op.Call)/1e6, float64(op.Return)/1e6, op.ClientId)
	}
	for _, sets := range info.PartialLinearizationsOperations() {
		var longest []porcupine.Operation
		for _, l := range sets {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if len(longest) == 0 {
			continue
		}
		key := longest[0].Input.(linInput).key
		var ops []porcupine.Operation
		for _, op := range hist {
			if op.Input.(linInput).key == key {
				ops = append(ops, op)
			}
		}
		if len(longest) == len(ops) {
			continue // this key linearized
		}
		fmt.Fprintf(&b, "\nkey %d: %d of %d operations linearize; the prefix ends with", key, len(longest), len(ops))
		for _, op := range longest[max(0, len(longest)-3):] {
			b.WriteString("\n    " + at(op))
		}
		in := map[[2]int64]bool{}
		for _, op := range longest {
			in[[2]int64{int64(op.ClientId), op.Call}] = true
		}
		var rest []porcupine.Operation
		for _, op := range ops {
			if !in[[2]int64{int64(op.ClientId), op.Call}] {
				rest = append(rest, op)
			}
		}
		slices.SortFunc(rest, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		b.WriteString("\n  and none of these can follow:")
		for _, op := range rest[:min(len(rest), 8)] {
			b.WriteString("\n    " + at(op))
		}
	}
	if b.Len() == 0 {
		return "no key's longest linearizable prefix is short of its history (porcupine timed out?)"
	}
	return "not linearizable:" + b.String()
}

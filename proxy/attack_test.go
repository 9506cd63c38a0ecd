package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"golang.org/x/crypto/bcrypt"
)

const (
	attackers        = 50 // concurrent wrong-password clients, one loopback address each
	attemptsEach     = 12 // requests per attacker: the attack is bounded in count
	legitRequests    = 20 // requests of the logged-in user, at least
	maxLegit         = 2000
	attackBcryptCost = 7 // dearer than Apache's default 5, cheap enough for CI
)

// steadyrestBinary builds cmd/steadyrest into the test's temporary
// folder, for the tests that attack the real binary.
func steadyrestBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin, err := e2e.BuildBinary(t.TempDir(), "./cmd/steadyrest")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// fromAddr is an HTTP client whose connections leave from the loopback
// address ip: every attacker has an address of its own, as on a network.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1},
	}
}

func basicGet(t *testing.T, c *http.Client, url, user, pass string) int {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Error(err)
		return 0
	}
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Issue 21 item 8: many clients guessing passwords at once against the
// real binary, with --no-request-log. The logged-in user still gets every
// request through, each attacking address gets only a few password checks
// before it is told to back off (429), and the failures are logged with
// the user name and the address.
func TestBruteForceAgainstBinary(t *testing.T) {
	bin := steadyrestBinary(t)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), attackBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := e2e.StartServer(t, e2e.ServerSpec{
		Name: "steadyrest", Bin: bin, AddrFromLog: e2e.SteadyrestAddr,
		Args: []string{"--remote", filepath.Join(dir, "store"), "--state-dir", filepath.Join(dir, "state"),
			"--listen", "127.0.0.1:0", "--htpasswd-file", htpasswd, "--no-request-log"},
	})
	base := "http://" + srv.Addr
	alice := fromAddr("127.0.0.1")
	if code := basicGet(t, alice, base+"/alice/config", "alice", "alice-pw"); code != http.StatusNotFound {
		t.Fatalf("alice before the attack: %d, want 404 (no repository yet)", code)
	}

	var (
		mu     sync.Mutex
		counts = map[string]map[int]int{} // attacker address -> status -> count
		wg     sync.WaitGroup
	)
	for i := range attackers {
		ip := fmt.Sprintf("127.0.0.%d", 2+i)
		wg.Go(func() {
			c := fromAddr(ip)
			got := map[int]int{}
			for j := range attemptsEach {
				got[basicGet(t, c, base+"/alice/config", "mallory", fmt.Sprintf("guess-%d-%d", i, j))]++
			}
			mu.Lock()
			counts[ip] = got
			mu.Unlock()
		})
	}
	// alice keeps working while the attack lasts (bounded: at most
	// maxLegit requests).
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var aliceCodes []int
	var aliceTimes []time.Duration
	for attacking := true; (attacking || len(aliceCodes) < legitRequests) && len(aliceCodes) < maxLegit; {
		start := time.Now()
		aliceCodes = append(aliceCodes, basicGet(t, alice, base+"/alice/config", "alice", "alice-pw"))
		aliceTimes = append(aliceTimes, time.Since(start))
		select {
		case <-done:
			attacking = false
		case <-time.After(10 * time.Millisecond):
		}
	}
	<-done

	for i, code := range aliceCodes {
		if code != http.StatusNotFound {
			t.Errorf("alice's request %d during the attack: %d, want 404", i, code)
		}
	}
	sort.Slice(aliceTimes, func(i, j int) bool { return aliceTimes[i] < aliceTimes[j] })
	t.Logf("alice: %d requests during the attack, median %v (information only)", len(aliceTimes), aliceTimes[len(aliceTimes)/2])

	checked, backedOff := 0, 0
	for ip, got := range counts {
		checked += got[http.StatusUnauthorized]
		backedOff += got[http.StatusTooManyRequests]
		// Every answer is a refusal the client can act on.
		for code := range got {
			if code != http.StatusUnauthorized && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
				t.Errorf("%s got %d", ip, code)
			}
		}
		if got[http.StatusUnauthorized] > freeFailures {
			t.Errorf("%s had %d passwords checked (401), want at most %d before backing off", ip, got[http.StatusUnauthorized], freeFailures)
		}
	}
	t.Logf("attack: %d passwords checked and refused (401), %d told to back off (429)", checked, backedOff)

	log := srv.Log()
	failed := regexp.MustCompile(`level=WARN msg="login failed" user=mallory remote=127\.0\.0\.(\d+):\d+`)
	seen := failed.FindAllStringSubmatch(log, -1)
	if len(seen) == 0 {
		t.Fatalf("no failed login logged with user and address (--no-request-log):\n%s", tail(log, 20))
	}
	if !strings.Contains(log, `msg="client backed off"`) {
		t.Errorf("no backoff logged:\n%s", tail(log, 20))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package shared

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// echoBackends starts n loopback servers that answer "<index> <method>
// <path>?<query> <body>" with status 201, so a test sees which backend
// got a request and what reached it.
func echoBackends(t *testing.T, n int) []string {
	t.Helper()
	var urls []string
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("X-Backend", fmt.Sprint(i))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "%d %s %s?%s %s", i, r.Method, r.URL.Path, r.URL.RawQuery, body)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return urls
}

func newBalancer(t *testing.T, backends ...string) *Balancer {
	t.Helper()
	b, err := NewBalancer(t.Logf, backends...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// send sends one request through c and returns the backend index that
// answered and the body.
func send(c *http.Client, method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return 0, "", fmt.Errorf("%s %s: status %d, want the backend's 201: %s", method, url, resp.StatusCode, b)
	}
	var i int
	if _, err := fmt.Sscan(resp.Header.Get("X-Backend"), &i); err != nil {
		return 0, "", fmt.Errorf("no X-Backend header in the answer: %w", err)
	}
	return i, string(b), nil
}

// get is send for the test's goroutine: it fails the test on an error.
func get(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	i, b, err := send(c, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return i, b
}

// Requests on one keep-alive connection go to backends 0, 1, 2, 0, ...:
// the balancer spreads requests, not connections. Method, path, query and
// body reach the backend unchanged, and its status and body come back.
func TestBalancerRoundRobinPerRequest(t *testing.T) {
	b := newBalancer(t, echoBackends(t, 3)...)
	// One connection at most: a per-connection balancer would send every
	// request to one backend.
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	for k := range 9 {
		i, body := get(t, c, http.MethodPost, b.URL()+"/repo/locks/abc?create=true", fmt.Sprint("lock", k))
		if i != k%3 {
			t.Fatalf("request %d went to backend %d, want %d", k, i, k%3)
		}
		if want := fmt.Sprintf("%d POST /repo/locks/abc?create=true lock%d", i, k); body != want {
			t.Fatalf("backend saw %q, want %q", body, want)
		}
	}
	if got := b.Served(); fmt.Sprint(got) != "[3 3 3]" {
		t.Fatalf("served per backend %v, want [3 3 3]", got)
	}
	if want := "rest:" + b.URL() + "/repo/"; b.Repo("/repo/") != want {
		t.Fatalf("Repo = %q, want %q", b.Repo("/repo/"), want)
	}
}

// Concurrent requests are shared exactly evenly.
func TestBalancerConcurrent(t *testing.T) {
	b := newBalancer(t, echoBackends(t, 3)...)
	c := &http.Client{}
	defer c.CloseIdleConnections()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		per = map[int]int{}
	)
	for range 8 {
		wg.Go(func() {
			for range 30 {
				i, _, err := send(c, http.MethodGet, b.URL()+"/repo/config", "")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				per[i]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if per[0] != 80 || per[1] != 80 || per[2] != 80 {
		t.Fatalf("240 concurrent requests went %v, want 80 to each backend", per)
	}
}

// A dropped backend gets no new request; a dead one is answered 502 (and
// counted); with every backend dropped the balancer answers 503.
func TestBalancerDropAndDeadBackend(t *testing.T) {
	urls := echoBackends(t, 2)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	b := newBalancer(t, append(urls, deadURL)...)
	c := &http.Client{}
	defer c.CloseIdleConnections()

	get(t, c, http.MethodGet, b.URL()+"/r/config", "") // backend 0
	get(t, c, http.MethodGet, b.URL()+"/r/config", "") // backend 1
	resp, err := c.Get(b.URL() + "/r/config")          // backend 2: dead
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("request to a dead backend: status %d, want 502", resp.StatusCode)
	}
	if f := b.Failed(); fmt.Sprint(f) != "[0 0 1]" {
		t.Fatalf("failed per backend %v, want [0 0 1]", f)
	}

	b.Drop(2)
	b.Drop(0)
	for range 4 {
		if i, _ := get(t, c, http.MethodGet, b.URL()+"/r/config", ""); i != 1 {
			t.Fatalf("request went to backend %d after backends 0 and 2 were dropped", i)
		}
	}
	b.Drop(1)
	resp, err = c.Get(b.URL() + "/r/config")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with every backend dropped: status %d, want 503", resp.StatusCode)
	}
	if s := b.Served(); fmt.Sprint(s) != "[1 5 1]" {
		t.Fatalf("served per backend %v, want [1 5 1]", s)
	}
}

func TestBalancerRefusesBadBackends(t *testing.T) {
	if _, err := NewBalancer(nil); err == nil {
		t.Error("NewBalancer with no backend: no error")
	}
	if _, err := NewBalancer(nil, "127.0.0.1:80"); err == nil {
		t.Error("NewBalancer with a backend without scheme: no error")
	}
}

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// listBase creates, once, a repository folder with n data packs of a few
// bytes each, written directly into the folder.
func (b *bench) listBase(n int) (string, error) {
	base := filepath.Join(b.c.work, fmt.Sprintf("list-%d", n))
	marker := filepath.Join(base, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return base, nil
	}
	if err := os.RemoveAll(base); err != nil {
		return "", fmt.Errorf("clean %s: %w", base, err)
	}
	repo := filepath.Join(base, "remote", "repo")
	for _, d := range []string{"keys", "locks", "snapshots", "index"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			return "", fmt.Errorf("mkdir: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "config"), []byte("bench"), 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	src := rand.NewChaCha8([32]byte{'l', 'i', 's', 't'})
	id := make([]byte, 32)
	for i := 0; i < n; i++ {
		_, _ = src.Read(id)
		name := hex.EncodeToString(id)
		d := filepath.Join(repo, "data", name[:2])
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("mkdir: %w", err)
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte("pack"), 0o644); err != nil {
			return "", fmt.Errorf("write pack: %w", err)
		}
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", fmt.Errorf("write marker: %w", err)
	}
	return base, nil
}

// listing: GET /repo/data/ (v2) three times on a fresh server process.
func (b *bench) listing(ctx context.Context) error {
	logf("creating %d data packs (once)", b.c.packs)
	base, err := b.listBase(b.c.packs)
	if err != nil {
		return err
	}
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range kinds {
			dir, err := b.roundDir("list", kind, round)
			if err != nil {
				return err
			}
			err = withServer(b.spec(kind, filepath.Join(base, "remote"), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
				var times []float64
				for i := 0; i < 3; i++ {
					d, names, err := listData(ctx, srv.Addr)
					if err != nil {
						return err
					}
					if n := len(names); n != b.c.packs {
						return fmt.Errorf("GET /repo/data/ listed %d packs, want %d", n, b.c.packs)
					}
					times = append(times, d.Seconds())
				}
				m := fmt.Sprintf("GET /data/ v2, %d packs", b.c.packs)
				b.res.add(sample{Scenario: "listing", Metric: m + ", first", Unit: "s", Server: kind, Round: round, Value: times[0]})
				b.res.add(sample{Scenario: "listing", Metric: m + ", median of 3", Unit: "s", Server: kind, Round: round, Value: median(times)})
				b.res.add(sample{Scenario: "listing", Metric: m + ", server peak RSS", Unit: "MiB", Server: kind, Round: round, Value: peakMiB(srv)})
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
		}
	}
	return nil
}

// listData lists /repo/data/ with the v2 API and returns the time to the
// end of the body and the names listed.
func listData(ctx context.Context, addr string) (time.Duration, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/repo/data/", nil)
	if err != nil {
		return 0, nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.x.restic.rest.v2")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET /repo/data/: %w", err)
	}
	defer resp.Body.Close()
	var entries []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return 0, nil, fmt.Errorf("GET /repo/data/: %s: %s", resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return 0, nil, fmt.Errorf("decode listing: %w", err)
	}
	d := time.Since(start)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return d, names, nil
}

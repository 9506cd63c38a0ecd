package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// emuRemoteName is the rclone.conf section the emulator is written under.
const emuRemoteName = "pcloud"

// emulator is the pCloud API emulator, run inside the bench process and
// shared by every server process of a scenario (they reach it over HTTPS
// on 127.0.0.1), so its call counters see every call any of them makes.
type emulator struct {
	*pcloudemu.Server
	conf  string // rclone.conf with an [emuRemoteName] section
	lists *listCounter
}

// emuOptions is pCloud's behaviour in the emulator scenarios: new files
// missing from listings (and rclone's lookups by name) and deleted ones
// still listed for 3 s, deletes of files younger than that refused.
func emuOptions() pcloudemu.Options {
	return pcloudemu.Options{ListLag: 3 * time.Second, FreshDeleteFails: true}
}

func startEmulator(dir string) (*emulator, error) {
	e := &emulator{conf: filepath.Join(dir, "rclone.conf"), lists: &listCounter{n: map[string]float64{}}}
	srv, err := pcloudemu.New(withLogger(emuOptions(), e))
	if err != nil {
		return nil, fmt.Errorf("start pcloud emulator: %w", err)
	}
	e.Server = srv
	if err := srv.WriteRcloneConf(e.conf, emuRemoteName); err != nil {
		srv.Close()
		return nil, fmt.Errorf("emulator rclone.conf: %w", err)
	}
	return e, nil
}

func (e *emulator) close() {
	if err := e.Close(); err != nil {
		logf("warning: close pcloud emulator: %v", err)
	}
}

// calls is a copy of the emulator's API calls so far, by method
// ("download" for file downloads).
func (e *emulator) calls() map[string]float64 {
	out := map[string]float64{}
	for k, v := range e.Stats().Calls {
		out[k] = float64(v)
	}
	return out
}

// listCounter is the emulator's logger: it counts listfolder requests by
// folder (the emulator's Stats count by method only), from the request
// log the emulator writes at debug level.
type listCounter struct {
	mu sync.Mutex
	n  map[string]float64 // "id:N" or "path:P", "+r" when recursive
}

func (l *listCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv == slog.LevelDebug }
func (l *listCounter) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *listCounter) WithGroup(string) slog.Handler                 { return l }

func (l *listCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "pcloudemu: request" {
		return nil
	}
	var api, query string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "api":
			api = a.Value.String()
		case "query":
			query = a.Value.String()
		}
		return true
	})
	if api != "listfolder" {
		return nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil
	}
	key := "path:" + q.Get("path")
	if id := q.Get("folderid"); id != "" {
		key = "id:" + id
	}
	if q.Get("recursive") == "1" {
		key += "+r"
	}
	l.mu.Lock()
	l.n[key]++
	l.mu.Unlock()
	return nil
}

func (l *listCounter) snapshot() map[string]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]float64, len(l.n))
	for k, v := range l.n {
		out[k] = v
	}
	return out
}

// listGroups are the rows of listfolder calls by folder, relative to the
// repository ("data/xx" sums the 256 pack folders).
var listGroups = []string{"above the repository", "repository", "keys", "locks", "snapshots", "index", "data", "data/xx", "other"}

// listsByFolder folds listfolder counts keyed by folder id or path into
// listGroups, for the repository at path repo (e.g. /multi-one-1/storm).
// It asks the emulator's API for the folder ids under the remote's root:
// the request log has ids only.
func (e *emulator) listsByFolder(ctx context.Context, repo string, counts map[string]float64) (map[string]float64, error) {
	ids, err := e.folderPaths(ctx)
	if err != nil {
		return nil, err
	}
	repo = strings.TrimSuffix(repo, "/")
	out := map[string]float64{}
	for k, v := range counts {
		key, _ := strings.CutSuffix(k, "+r")
		var p string
		if rest, ok := strings.CutPrefix(key, "id:"); ok {
			p = ids[rest]
		} else {
			p = strings.TrimPrefix(key, "path:")
		}
		out[folderGroup(repo, p)] += v
	}
	return out, nil
}

func folderGroup(repo, p string) string {
	switch {
	case p == "":
		return "other"
	case p == repo:
		return "repository"
	case strings.HasPrefix(repo, p+"/") || p == "/":
		return "above the repository"
	}
	rel, ok := strings.CutPrefix(p, repo+"/")
	if !ok {
		return "other"
	}
	switch {
	case rel == "keys" || rel == "locks" || rel == "snapshots" || rel == "index" || rel == "data":
		return rel
	case strings.HasPrefix(rel, "data/"):
		return "data/xx"
	}
	return "other"
}

// client is an HTTPS client that trusts the emulator's CA.
func (e *emulator) client() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CACertPEM())
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// folderPaths maps every folder id of the emulator to its path, with one
// recursive listfolder per top-level folder (the root refuses recursion).
func (e *emulator) folderPaths(ctx context.Context) (map[string]string, error) {
	c := e.client()
	defer c.CloseIdleConnections()
	type folder struct {
		Name     string   `json:"name"`
		FolderID int64    `json:"folderid"`
		IsFolder bool     `json:"isfolder"`
		Contents []folder `json:"contents"`
	}
	list := func(q string) (folder, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL()+"/listfolder?"+q, nil)
		if err != nil {
			return folder{}, fmt.Errorf("listfolder request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+e.Options().AccessToken)
		resp, err := c.Do(req)
		if err != nil {
			return folder{}, fmt.Errorf("listfolder: %w", err)
		}
		defer resp.Body.Close()
		var body struct {
			Result   int    `json:"result"`
			Error    string `json:"error"`
			Metadata folder `json:"metadata"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return folder{}, fmt.Errorf("listfolder answer: %w", err)
		}
		if body.Result != 0 {
			return folder{}, fmt.Errorf("listfolder %s: %d %s", q, body.Result, body.Error)
		}
		return body.Metadata, nil
	}
	root, err := list("folderid=0&nofiles=1")
	if err != nil {
		return nil, err
	}
	out := map[string]string{"0": "/"}
	var walk func(f folder, p string)
	walk = func(f folder, p string) {
		out[strconv.FormatInt(f.FolderID, 10)] = p
		for _, c := range f.Contents {
			if c.IsFolder {
				walk(c, p+"/"+c.Name)
			}
		}
	}
	for _, top := range root.Contents {
		if !top.IsFolder {
			continue
		}
		sub, err := list(fmt.Sprintf("folderid=%d&recursive=1&nofiles=1", top.FolderID))
		if err != nil {
			return nil, err
		}
		walk(sub, "/"+top.Name)
	}
	return out, nil
}

// emuMethods are the API methods shown one per row; any other method is
// summed into "other". Fixed, so every run has the same rows.
var emuMethods = []string{"listfolder", "stat", "checksumfile", "uploadfile", "getfilelink", "download",
	"deletefile", "createfolderifnotexists", "createfolder"}

// diff returns after - before per key, and the total.
func diff(before, after map[string]float64) (map[string]float64, float64) {
	d := map[string]float64{}
	var total float64
	for k, v := range after {
		if x := v - before[k]; x != 0 {
			d[k] = x
			total += x
		}
	}
	return d, total
}

// byMethod folds a per-method count into emuMethods plus "other".
func byMethod(d map[string]float64) map[string]float64 {
	known := map[string]bool{}
	for _, m := range emuMethods {
		known[m] = true
	}
	out := map[string]float64{}
	for k, v := range d {
		if known[k] {
			out[k] += v
		} else {
			out["other"] += v
		}
	}
	return out
}

// fmtCounts prints a count map as "k=v k=v", sorted.
func fmtCounts(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%g", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// redisServer is a redis-server the bench starts on a unix socket in a
// run folder, to hold the shared overlay of several steadyrest instances.
type redisServer struct {
	cmd    *exec.Cmd
	dir    string
	sock   string
	client *redis.Client
	exited chan struct{}
}

// startRedis runs redis-server with the append-only file fsynced at every
// write (the durable setting the contract needs: an acknowledged lock or
// tombstone survives a Redis crash), and waits until it answers PING.
func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (scripts/install-redis.sh): %w", err)
	}
	sock := filepath.Join(dir, "redis.sock")
	// sun_path holds 108 bytes.
	if len(sock) > 100 {
		return nil, fmt.Errorf("unix socket path %s is too long: use a shorter BENCH_WORK", sock)
	}
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisServer{cmd: cmd, dir: dir, sock: sock, exited: make(chan struct{}),
		client: redis.NewClient(&redis.Options{Network: "unix", Addr: sock})}
	go func() { cmd.Wait(); close(r.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.client.Ping(ctx).Err()
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return nil, fmt.Errorf("redis-server did not answer PING in 10s: %w\n%s", err, tail(string(log), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the --shared value for steadyrest.
func (r *redisServer) URL() string { return "unix://" + r.sock }

// flagsFor are the flags that share bin's records in r: --shared, or
// --overlay for a steadyrest built before the rename (a --variant of an
// older build), whose help has no --shared.
func (r *redisServer) flagsFor(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--help").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, fmt.Errorf("%s --help: %w", bin, err)
	}
	if strings.Contains(string(out), "--shared ") {
		return []string{"--shared", r.URL()}, nil
	}
	return []string{"--overlay", r.URL()}, nil
}

var cmdstatRE = regexp.MustCompile(`(?m)^cmdstat_([^:]+):calls=(\d+)`)

// commandStats returns INFO commandstats' calls per command. Commands run
// inside Lua scripts are counted there too (under their own names), so a
// script call shows as evalsha plus what it ran. Our own INFO is left out.
func (r *redisServer) commandStats(ctx context.Context) (map[string]float64, error) {
	info, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO commandstats: %w", err)
	}
	out := map[string]float64{}
	for _, m := range cmdstatRE.FindAllStringSubmatch(info, -1) {
		if m[1] == "info" {
			continue
		}
		n, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("redis commandstats %q: %w", m[0], err)
		}
		out[m[1]] = n
	}
	return out, nil
}

// stop ends redis-server with SIGTERM (SIGKILL after 10 s).
func (r *redisServer) stop() error {
	r.client.Close()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop redis-server: %w", err)
	}
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		return fmt.Errorf("redis-server did not stop in 10s; killed")
	}
	return nil
}

// metricSum sums every series of one counter on a steadyrest instance's
// /metrics, and returns them by label set too.
func metricSum(addr, name string) (float64, map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{([^}]*)\})? ([0-9.e+]+)$`)
	var sum float64
	by := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return 0, nil, fmt.Errorf("metrics value %q: %w", m[2], err)
		}
		sum += v
		by[strings.ReplaceAll(m[1], `"`, "")] += v
	}
	return sum, by, nil
}

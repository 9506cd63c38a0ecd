package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/steadyrest/steadyrest/health"
	"github.com/steadyrest/steadyrest/metrics"
	"github.com/steadyrest/steadyrest/overlay"
	"github.com/steadyrest/steadyrest/scrub"
)

// tool finds a program a test needs: a test without it fails in CI and
// is skipped elsewhere.
func tool(t *testing.T, name, from string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: install %s", name, from)
		}
		t.Skipf("%s not found: install %s", name, from)
	}
	return path
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// flagEnvVars returns the STEADYREST_* variables the binary understands,
// derived from the flag definitions in cmd/steadyrest.
func flagEnvVars(t *testing.T) map[string]bool {
	t.Helper()
	src := read(t, "../cmd/steadyrest/flags.go")
	// fl.XVar(&c.field, "name" and fl.Var(value, "name"; the peers' aliases
	// (alias("name")) have no variable of their own.
	re := regexp.MustCompile(`fl\.(?:\w+Var\(&c\.\w+|Var\(\w+),\s*"([a-z0-9-]+)"`)
	vars := map[string]bool{}
	for _, m := range re.FindAllSubmatch(src, -1) {
		vars["STEADYREST_"+strings.ToUpper(strings.ReplaceAll(string(m[1]), "-", "_"))] = true
	}
	if len(vars) < 10 || !vars["STEADYREST_REMOTE"] || !vars["STEADYREST_LISTEN"] {
		t.Fatalf("could not read the flags from cmd/steadyrest/flags.go (found %v)", vars)
	}
	return vars
}

// metricNames returns every metric family a running steadyrest exposes.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	// Drive every kind of metric once so vectors without preset series show up.
	m.ObserveRequest("POST", "r", "data", 200, time.Millisecond, 1, 0)
	m.ObserveRequest("GET", "r", "data", 200, time.Millisecond, 0, 1)
	m.ObserveRequest("DELETE", "r", "locks", 200, time.Millisecond, 0, 0)
	m.SetOverlayGauges(func() metrics.OverlayGauges { return metrics.OverlayGauges{} })
	tr := health.New(nil, nil)
	id := strings.Repeat("a", 64)
	for _, typ := range []overlay.Type{overlay.Snapshots, overlay.Data, overlay.Locks} {
		tr.Listed("r", typ, []overlay.Entry{{Name: id, Size: 1}})
		tr.Stored("r", typ, id, 1)
	}
	m.SetHealth(tr)
	m.ObserveScrub(&scrub.Report{Repositories: []string{"r"}, Outcome: scrub.Clean}, time.Now())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

var metricRef = regexp.MustCompile(`\b((?:steadyrest|go|process)_[a-z0-9_]+|up)\b`)

// checkMetricRefs fails for every metric an expression names that
// steadyrest does not expose (histogram suffixes allowed).
func checkMetricRefs(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, m := range metricRef.FindAllString(expr, -1) {
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suf); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s uses metric %s, which steadyrest does not expose", where, m)
		}
	}
}

type composeFile struct {
	Name     string                    `yaml:"name"`
	RepoURI  string                    `yaml:"x-repository-uri"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Expose      []string          `yaml:"expose"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	ReadOnly bool     `yaml:"read_only"`
	Tmpfs    []string `yaml:"tmpfs"`
	Command  []string `yaml:"command"`
}

// mounts maps container path -> (source, read-only).
func (s composeService) mounts(t *testing.T) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 {
			t.Fatalf("volume %q is not SOURCE:TARGET[:MODE]", v)
		}
		mode := ""
		if len(parts) == 3 {
			mode = parts[2]
		}
		out[parts[1]] = [2]string{parts[0], mode}
	}
	return out
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return h, p
}

func TestCompose(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	envs := flagEnvVars(t)
	for _, name := range []string{"steadyrest", "backrest", "prometheus"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}

	sr := c.Services["steadyrest"]
	if sr.Build.Dockerfile != "deploy/Dockerfile" || sr.Build.Context != ".." {
		t.Errorf("steadyrest build = %v, want context .. and deploy/Dockerfile", sr.Build)
	}
	for k := range sr.Environment {
		if strings.HasPrefix(k, "STEADYREST_") && !envs[k] {
			t.Errorf("steadyrest environment sets %s, which is no flag of the binary", k)
		}
	}
	if r := sr.Environment["STEADYREST_REMOTE"]; !strings.HasPrefix(r, "pcloud:") {
		t.Errorf("STEADYREST_REMOTE = %q, want the pcloud remote of rclone.conf.example", r)
	}
	_, listenPort := hostPort(t, sr.Environment["STEADYREST_LISTEN"])
	_, metricsPort := hostPort(t, sr.Environment["STEADYREST_METRICS_LISTEN"])
	m := sr.mounts(t)
	state := m[sr.Environment["STEADYREST_STATE_DIR"]]
	if _, ok := c.Volumes[state[0]]; !ok {
		t.Errorf("state dir %s is not on a declared volume (mounts %v)", sr.Environment["STEADYREST_STATE_DIR"], m)
	}
	for _, env := range []string{"STEADYREST_RCLONE_CONFIG", "STEADYREST_HTPASSWD_FILE"} {
		mt, ok := m[sr.Environment[env]]
		if !ok || mt[1] != "ro" {
			t.Errorf("%s=%s is not mounted read-only (mounts %v)", env, sr.Environment[env], m)
		}
	}
	if src := m[sr.Environment["STEADYREST_RCLONE_CONFIG"]][0]; src != "" {
		if _, err := os.Stat(src + ".example"); err != nil {
			t.Errorf("rclone config %s has no %s.example to start from", src, src)
		}
		if !strings.Contains(string(read(t, src+".example")), "type = pcloud") {
			t.Errorf("%s.example has no pcloud section", src)
		}
	}
	if !slices.ContainsFunc(sr.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+listenPort) }) {
		t.Errorf("steadyrest ports %v do not publish the listen port %s", sr.Ports, listenPort)
	}
	if !slices.Contains(sr.Expose, metricsPort) {
		t.Errorf("metrics port %s not exposed to the compose network (%v)", metricsPort, sr.Expose)
	}
	// The check must follow STEADYREST_LISTEN/TLS by itself: a fixed URL
	// breaks when either changes, and Backrest's start with it.
	if hc := strings.Join(sr.Healthcheck.Test, " "); !strings.HasSuffix(hc, "steadyrest healthcheck") {
		t.Errorf("healthcheck %q should be a bare `steadyrest healthcheck`", hc)
	}
	// METRICS_NO_AUTH opens the metrics listener only; that port must not
	// be published to the host.
	for _, p := range sr.Ports {
		if strings.HasSuffix(p, ":"+metricsPort) {
			t.Errorf("metrics port %s is published (%q): with STEADYREST_METRICS_NO_AUTH it has no auth", metricsPort, p)
		}
	}
	if !sr.ReadOnly || !slices.Contains(sr.Tmpfs, "/tmp") {
		t.Error("steadyrest should run on a read-only root with a /tmp tmpfs")
	}

	br := c.Services["backrest"]
	if tag, ok := strings.CutPrefix(br.Image, "garethgeorge/backrest:"); !ok || !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(tag) {
		t.Errorf("backrest image = %q, want a release tag garethgeorge/backrest:vX.Y.Z", br.Image)
	}
	bm := br.mounts(t)
	for _, env := range []string{"BACKREST_DATA", "BACKREST_CONFIG", "XDG_CACHE_HOME"} {
		p := br.Environment[env]
		if p == "" {
			t.Errorf("backrest %s unset", env)
			continue
		}
		var onVolume bool
		for target, mt := range bm {
			if _, declared := c.Volumes[mt[0]]; declared && (p == target || strings.HasPrefix(p, target+"/")) {
				onVolume = true
			}
		}
		if !onVolume {
			t.Errorf("backrest %s=%s is not on a named volume", env, p)
		}
	}
	// Backrest's UI must come up even when the cloud is down at boot.
	if c := br.DependsOn["steadyrest"].Condition; c != "service_started" {
		t.Errorf("backrest depends_on steadyrest: condition %q, want service_started", c)
	}
	// The password reaches restic through the repository's Env Vars
	// (RESTIC_REST_PASSWORD=${STEADYREST_PASSWORD}), expanded from
	// Backrest's environment.
	if !strings.Contains(br.Environment["STEADYREST_PASSWORD"], "STEADYREST_PASSWORD") {
		t.Error("backrest lacks STEADYREST_PASSWORD, which the repository's Env Vars expand")
	}
	compose := string(read(t, "docker-compose.yml"))
	for _, want := range []string{"RESTIC_REST_USERNAME=", "RESTIC_REST_PASSWORD=${STEADYREST_PASSWORD}", "Env Vars"} {
		if !strings.Contains(compose, want) {
			t.Errorf("docker-compose.yml does not tell Backrest users %q", want)
		}
	}

	// The rest: URI Backrest uses points at the steadyrest service's listen port.
	if c.RepoURI == "" || br.Environment["RESTIC_REPOSITORY"] != c.RepoURI {
		t.Fatalf("repository URI %q / backrest RESTIC_REPOSITORY %q", c.RepoURI, br.Environment["RESTIC_REPOSITORY"])
	}
	rest, ok := strings.CutPrefix(c.RepoURI, "rest:")
	if !ok {
		t.Fatalf("repository URI %q is not rest:", c.RepoURI)
	}
	u, err := url.Parse(rest)
	if err != nil {
		t.Fatalf("repository URI: %v", err)
	}
	if u.Scheme != "http" || u.Hostname() != "steadyrest" || u.Port() != listenPort || len(strings.Trim(u.Path, "/")) == 0 {
		t.Errorf("repository URI %q: want http://steadyrest:%s/<repo>", c.RepoURI, listenPort)
	}
	if u.User != nil {
		t.Errorf("repository URI %q carries credentials; use RESTIC_REST_USERNAME/PASSWORD", c.RepoURI)
	}

	// Prometheus mounts the files in this folder and scrapes steadyrest's metrics port.
	pm := c.Services["prometheus"].mounts(t)
	for _, f := range []string{"prometheus.yml", "alerts.yml"} {
		mt := pm["/etc/prometheus/"+f]
		if mt[0] != "./prometheus/"+f || mt[1] != "ro" {
			t.Errorf("prometheus mount of %s = %v", f, mt)
		}
		if _, err := os.Stat(filepath.Join("prometheus", f)); err != nil {
			t.Error(err)
		}
	}
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(read(t, "prometheus/prometheus.yml"), &pc); err != nil {
		t.Fatalf("parse prometheus.yml: %v", err)
	}
	if !slices.Contains(pc.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml rule_files = %v", pc.RuleFiles)
	}
	var scraped bool
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName != "steadyrest" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			scraped = scraped || slices.Contains(st.Targets, "steadyrest:"+metricsPort)
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape job steadyrest at steadyrest:%s", metricsPort)
	}

	// Every named volume used is declared.
	for name, s := range c.Services {
		for _, mt := range s.mounts(t) {
			src := mt[0]
			if _, ok := c.Volumes[src]; !ok && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				t.Errorf("service %s uses undeclared volume %s", name, src)
			}
		}
	}
}

func TestDockerfile(t *testing.T) {
	df := string(read(t, "Dockerfile"))
	for _, want := range []string{
		"ARG GO_IMAGE=golang:1.26.",
		"FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build",
		"CGO_ENABLED=0",
		"-trimpath",
		`-ldflags "-s -w -X main.version=${VERSION}"`,
		"./cmd/steadyrest",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"VOLUME /var/lib/steadyrest",
		"EXPOSE 8000",
		`CMD ["/usr/local/bin/steadyrest", "healthcheck"]`,
		"STEADYREST_LISTEN=0.0.0.0:8000",
		"STEADYREST_STATE_DIR=/var/lib/steadyrest",
		"STEADYREST_RCLONE_CONFIG=/config/rclone/rclone.conf",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// -X main.version only works if that variable exists.
	if !regexp.MustCompile(`(?m)^var version\b`).Match(read(t, "../cmd/steadyrest/main.go")) {
		t.Error("cmd/steadyrest has no package-level var version for -X main.version")
	}
	envs := flagEnvVars(t)
	for _, m := range regexp.MustCompile(`STEADYREST_[A-Z_]+[A-Z]`).FindAllString(df, -1) {
		if !envs[m] {
			t.Errorf("Dockerfile names %s, which is no flag of the binary", m)
		}
	}
	ign := string(read(t, "../.dockerignore"))
	for _, want := range []string{".git", "**/rclone.conf", "**/htpasswd"} {
		if !slices.Contains(strings.Split(ign, "\n"), want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	unit := string(read(t, "systemd/steadyrest.service"))
	settings := map[string][]string{}
	section := ""
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q is not KEY=VALUE", line)
		}
		settings[section+"."+k] = append(settings[section+"."+k], v)
	}
	for key, want := range map[string]string{
		"Service.DynamicUser":             "yes",
		"Service.StateDirectory":          "steadyrest",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.PrivateTmp":              "yes",
		"Service.PrivateDevices":          "yes",
		"Service.KillSignal":              "SIGTERM",
		"Service.Type":                    "notify",
		"Service.NotifyAccess":            "main",
		"Service.EnvironmentFile":         "-/etc/steadyrest/env",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.CapabilityBoundingSet":   "",
		"Install.WantedBy":                "multi-user.target",
	} {
		if v := settings[key]; len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want %q", key, v, want)
		}
	}
	// The stop timeout must outlast the binary's default --shutdown-timeout (1m).
	if v := settings["Service.TimeoutStopSec"]; len(v) != 1 {
		t.Error("TimeoutStopSec missing")
	} else if d, err := time.ParseDuration(v[0]); err != nil || d <= time.Minute {
		t.Errorf("TimeoutStopSec = %s, want more than 1m", v[0])
	}
	envs := flagEnvVars(t)
	var sawState bool
	for _, e := range settings["Service.Environment"] {
		k, v, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "STEADYREST_") && !envs[k] {
			t.Errorf("unit sets %s, which is no flag of the binary", k)
		}
		if k == "STEADYREST_STATE_DIR" && v == "%S/steadyrest" {
			sawState = true
		}
	}
	if !sawState {
		t.Error("STEADYREST_STATE_DIR does not point at the StateDirectory")
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	var rf ruleFile
	if err := yaml.Unmarshal(read(t, "prometheus/alerts.yml"), &rf); err != nil {
		t.Fatalf("parse alerts.yml: %v", err)
	}
	known := metricNames(t)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkMetricRefs(t, "alert "+r.Alert, r.Expr, known)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity, a summary and a description", r.Alert)
			}
		}
	}
	for _, want := range []string{"SteadyrestDown", "SteadyrestRemoteErrors", "SteadyrestOverlayRetiredByTimeout",
		"SteadyrestReapStuck", "SteadyrestPendingReapsGrowing", "SteadyrestVisibilityLagHigh"} {
		if !alerts[want] {
			t.Errorf("alert %s missing", want)
		}
	}
	// Every alert has a unit test.
	tests := string(read(t, "prometheus/alerts_test.yml"))
	for a := range alerts {
		if !strings.Contains(tests, "alertname: "+a+"\n") {
			t.Errorf("alert %s has no test in alerts_test.yml", a)
		}
	}
	checkMetricRefs(t, "alerts_test.yml", tests, known)
}

type dashPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func TestDashboard(t *testing.T) {
	var d struct {
		Title      string      `json:"title"`
		UID        string      `json:"uid"`
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(read(t, "grafana/steadyrest.json"), &d); err != nil {
		t.Fatalf("grafana/steadyrest.json is not valid JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") || !slices.Contains(vars, "instance") {
		t.Errorf("dashboard variables = %v, want datasource and instance", vars)
	}
	known := metricNames(t)
	used := map[string]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: grid position %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkMetricRefs(t, "panel "+p.Title, tg.Expr, known)
			for _, m := range metricRef.FindAllString(tg.Expr, -1) {
				used[strings.TrimSuffix(m, "_bucket")] = true
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	// The dashboard shows every steadyrest metric.
	for name := range known {
		if strings.HasPrefix(name, "steadyrest_") && !used[name] && name != "steadyrest_blob_read_total" &&
			name != "steadyrest_blob_written_total" && name != "steadyrest_blob_deleted_total" {
			t.Errorf("dashboard does not show %s", name)
		}
	}
	checkPromQL(t, exprs)
}

// checkPromQL has promtool parse the dashboard's queries, as recording
// rules with Grafana's variables filled in.
func checkPromQL(t *testing.T, exprs []string) {
	// The dashboard's other checks have run; only the parse is left.
	promtool := tool(t, "promtool", "Debian's prometheus package (deploy/check.sh installs it)")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	r := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	for i, e := range exprs {
		q, _ := json.Marshal(r.Replace(e)) // a JSON string is a valid YAML scalar
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("dashboard queries do not parse: %v\n%s", err, out)
	}
}

// Secrets made from the examples stay out of git.
func TestGitignoreKeepsSecretsOut(t *testing.T) {
	lines := strings.Split(string(read(t, "../.gitignore")), "\n")
	for _, want := range []string{"/deploy/rclone.conf", "/deploy/htpasswd", "/deploy/.env", "/deploy/redis/redis-auth.conf"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".gitignore lacks %q", want)
		}
	}
	if git, err := exec.LookPath("git"); err == nil {
		for _, f := range []string{"rclone.conf", "htpasswd", ".env", "redis/redis-auth.conf"} {
			if exec.Command(git, "check-ignore", "-q", f).Run() != nil {
				t.Errorf("git does not ignore deploy/%s", f)
			}
		}
	}
}

// rclone.conf.example leaves the region to rclone's default (US) and says
// how EU accounts differ, the uid that must read it and what a read-only
// mount means for OAuth tokens.
func TestRcloneConfExample(t *testing.T) {
	ex := string(read(t, "rclone.conf.example"))
	if regexp.MustCompile(`(?m)^hostname\s*=`).MatchString(ex) {
		t.Error("rclone.conf.example sets a hostname: a US account breaks on the EU host")
	}
	for _, want := range []string{"eapi.pcloud.com", "api.pcloud.com", "65532", "chown", "OneDrive", "Google Drive"} {
		if !strings.Contains(ex, want) {
			t.Errorf("rclone.conf.example does not mention %q", want)
		}
	}
}

func TestSystemdSocketUnit(t *testing.T) {
	unit := string(read(t, "systemd/steadyrest.socket"))
	for _, want := range []string{"[Socket]", "ListenStream=", "WantedBy=sockets.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("steadyrest.socket lacks %q", want)
		}
	}
}

// The multi-host files: the override gives the sidecar a shared overlay
// the binary understands, and the Redis they point at persists every
// acknowledged record (appendfsync always), as the README requires.
func TestComposeSharedOverlay(t *testing.T) {
	var over composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.shared.yml"), &over); err != nil {
		t.Fatalf("parse docker-compose.shared.yml: %v", err)
	}
	sr, ok := over.Services["steadyrest"]
	if !ok {
		t.Fatal("docker-compose.shared.yml does not override the steadyrest service")
	}
	envs := flagEnvVars(t)
	v, ok := sr.Environment["STEADYREST_SHARED"]
	if !ok || !envs["STEADYREST_SHARED"] {
		t.Fatalf("STEADYREST_SHARED not set (%v) or not a flag of the binary", sr.Environment)
	}
	if !strings.Contains(v, "${STEADYREST_SHARED:?") {
		t.Errorf("STEADYREST_SHARED = %q: want it required from .env, the same on every host", v)
	}
	var redis struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(read(t, "redis/docker-compose.yml"), &redis); err != nil {
		t.Fatalf("parse redis/docker-compose.yml: %v", err)
	}
	cmd := strings.Join(redis.Services["redis"].Command, " ")
	// Persistence and the password are in redis.conf (TestRedisCompose).
	if !strings.Contains(cmd, "redis.conf") {
		t.Errorf("redis command %q does not load redis.conf", cmd)
	}
}

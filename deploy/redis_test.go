package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"
)

type redisCompose struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Command     []string `yaml:"command"`
		Ports       []string `yaml:"ports"`
		Secrets     []string `yaml:"secrets"`
		Volumes     []string `yaml:"volumes"`
		Environment map[string]string
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// The shared overlay's Redis: not reachable from every network the host
// is on, its password on no command line (`ps` and `docker inspect` show
// those), and every acknowledged record on disk before steadyrest answers.
func TestRedisCompose(t *testing.T) {
	var c redisCompose
	if err := yaml.Unmarshal(read(t, "redis/docker-compose.yml"), &c); err != nil {
		t.Fatalf("parse redis/docker-compose.yml: %v", err)
	}
	r, ok := c.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	for _, p := range r.Ports {
		// HOST_IP:HOST_PORT:CONTAINER_PORT, the host IP loopback unless
		// the operator names one (${VAR:-127.0.0.1}).
		hostIP, _, _ := strings.Cut(p, ":")
		if strings.HasPrefix(p, "${") {
			hostIP = p[:strings.Index(p, "}")+1]
		}
		if hostIP != "127.0.0.1" && !(strings.HasPrefix(hostIP, "${") && strings.HasSuffix(hostIP, ":-127.0.0.1}")) {
			t.Errorf("redis publishes %q on every interface; bind 127.0.0.1 or an address the operator chooses", p)
		}
	}
	cmd := strings.Join(r.Command, " ")
	hc := strings.Join(r.Healthcheck.Test, " ")
	for what, s := range map[string]string{"command": cmd, "healthcheck": hc} {
		if strings.Contains(s, "--requirepass") || strings.Contains(s, "PASSWORD") || strings.Contains(s, " -a ") {
			t.Errorf("redis %s %q carries the password", what, s)
		}
	}
	for k := range r.Environment {
		if strings.Contains(k, "PASS") {
			t.Errorf("redis environment %s carries the password (docker inspect shows it)", k)
		}
	}
	// The password comes from a secret file, included by the config.
	if len(r.Secrets) != 1 || c.Secrets[r.Secrets[0]].File == "" {
		t.Fatalf("redis secrets = %v (declared %v), want one file secret with the password", r.Secrets, c.Secrets)
	}
	var conf string
	for _, v := range r.Volumes {
		src, target, _ := strings.Cut(v, ":")
		if strings.HasSuffix(src, ".conf") {
			conf = string(read(t, "redis/"+strings.TrimPrefix(src, "./")))
			target, _, _ = strings.Cut(target, ":")
			if !strings.Contains(cmd, target) {
				t.Errorf("redis command %q does not load the mounted %s", cmd, target)
			}
		}
	}
	for _, want := range []string{"appendonly yes", "appendfsync always", "include /run/secrets/" + r.Secrets[0]} {
		if !strings.Contains(conf, "\n"+want+"\n") {
			t.Errorf("redis config lacks the line %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s*requirepass\s`).MatchString(conf) {
		t.Error("the committed redis config holds requirepass: the password belongs in the secret")
	}
}

// The shipped redis.conf, run by a real redis-server with a secret as
// the compose file gives it: a client without the password is refused,
// the compose file's health check gets in, and persistence is on.
func TestRedisConfRuns(t *testing.T) {
	bin := tool(t, "redis-server", "Debian's redis-server package (scripts/install-redis.sh)")
	// Not t.TempDir: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "deployredis")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const password = "0123456789abcdef0123456789abcdef"
	secret := filepath.Join(dir, "redis_auth")
	if err := os.WriteFile(secret, []byte("requirepass "+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(string(read(t, "redis/redis.conf")), "/run/secrets/redis_auth", secret)
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, confPath, "--dir", dir, "--port", "0", "--unixsocket", sock,
		"--unixsocketperm", "700", "--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	ctx := context.Background()
	anon := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer anon.Close()
	var pingErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if pingErr = anon.Ping(ctx).Err(); pingErr != nil && strings.Contains(pingErr.Error(), "NOAUTH") {
			break
		}
	}
	if pingErr == nil || !strings.Contains(pingErr.Error(), "NOAUTH") {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		t.Fatalf("PING without the password: %v, want NOAUTH\n%s", pingErr, log)
	}
	authed := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Password: password})
	defer authed.Close()
	for key, want := range map[string]string{"appendonly": "yes", "appendfsync": "always", "save": ""} {
		got, err := authed.ConfigGet(ctx, key).Result()
		if err != nil || got[key] != want {
			t.Errorf("CONFIG GET %s = %v (%v), want %q", key, got, err, want)
		}
	}

	// The compose file's health check, pointed at this server's socket and
	// secret instead of the container's.
	var c redisCompose
	if err := yaml.Unmarshal(read(t, "redis/docker-compose.yml"), &c); err != nil {
		t.Fatal(err)
	}
	test := c.Services["redis"].Healthcheck.Test
	if len(test) != 2 || test[0] != "CMD-SHELL" {
		t.Fatalf("healthcheck test = %q, want CMD-SHELL and a command", test)
	}
	hc := strings.NewReplacer("$$", "$", "/run/secrets/redis_auth", secret, "redis-cli ", "redis-cli -s "+sock+" ").Replace(test[1])
	if out, err := exec.Command("sh", "-c", hc).CombinedOutput(); err != nil {
		t.Errorf("the health check fails against the running Redis: %v\n%s", err, out)
	}
	wrong := strings.Replace(hc, secret, filepath.Join(dir, "missing"), 1)
	if exec.Command("sh", "-c", wrong).Run() == nil {
		t.Error("the health check passes without the password: it checks nothing")
	}
}

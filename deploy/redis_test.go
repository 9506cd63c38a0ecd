package deploy

import (
	"regexp"
	"strings"
	"testing"

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

package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Prometheus sends the shipped alerts to the Alertmanager the compose file
// runs, with the configuration beside the rules.
func TestAlertmanagerWired(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	am, ok := c.Services["alertmanager"]
	if !ok {
		t.Fatal("docker-compose.yml runs no alertmanager")
	}
	if !strings.HasPrefix(am.Image, "prom/alertmanager:") {
		t.Errorf("alertmanager image = %q", am.Image)
	}
	var confPath string
	for _, a := range am.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			confPath = v
		}
	}
	if mt := am.mounts(t)[confPath]; mt[0] != "./prometheus/alertmanager.yml" || mt[1] != "ro" {
		t.Errorf("alertmanager --config.file=%s is mounted from %v, want ./prometheus/alertmanager.yml read-only", confPath, mt)
	}
	if _, err := os.Stat("prometheus/alertmanager.yml"); err != nil {
		t.Error(err)
	}
	var pc struct {
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(read(t, "prometheus/prometheus.yml"), &pc); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, a := range pc.Alerting.Alertmanagers {
		for _, s := range a.StaticConfigs {
			targets = append(targets, s.Targets...)
		}
	}
	if !slices.Contains(targets, "alertmanager:9093") {
		t.Errorf("prometheus.yml sends alerts to %v, want alertmanager:9093 (the compose service)", targets)
	}
	if !slices.Contains(am.Expose, "9093") && !slices.ContainsFunc(am.Ports, func(p string) bool { return strings.HasSuffix(p, ":9093") }) {
		t.Errorf("alertmanager does not serve 9093 on the compose network (ports %v, expose %v)", am.Ports, am.Expose)
	}
	for _, p := range append(am.Ports, c.Services["prometheus"].Ports...) {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("port %q is published on every interface; neither UI has auth", p)
		}
	}
}

// A file the deployment files point the reader to exists.
func TestDeployReferencesExist(t *testing.T) {
	ref := regexp.MustCompile(`[\w./-]*[\w-]+\.md\b`)
	for _, f := range deployAndDocFiles(t) {
		if !strings.HasPrefix(f, "../") {
			for _, m := range ref.FindAllString(string(read(t, f)), -1) {
				m = strings.TrimPrefix(m, "./")
				if _, err := os.Stat(filepath.Join("..", m)); err != nil {
					if _, err2 := os.Stat(filepath.Join(filepath.Dir(f), m)); err2 != nil {
						t.Errorf("deploy/%s refers to %s, which does not exist", f, m)
					}
				}
			}
		}
	}
}

package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// deployAndDocFiles returns every text file under deploy/ and the docs.
func deployAndDocFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(files, docFiles(t)...)
}

var metricsListen = regexp.MustCompile(`(?:METRICS_LISTEN[=:]\s*"?|--metrics-listen[ =])(?:[\w.\[\]-]*):(\d+)`)

// The metrics address the shipped files and the docs suggest is one port,
// and not one an exporter on the same host already holds: Prometheus gave
// exporters the ports 9100-9999 (node_exporter's 9100 on most hosts, where
// the unit's start failed and restarted forever), and 8000 is the API's.
func TestMetricsPortFree(t *testing.T) {
	ports := map[string][]string{}
	for _, f := range deployAndDocFiles(t) {
		for _, m := range metricsListen.FindAllStringSubmatch(string(read(t, f)), -1) {
			ports[m[1]] = append(ports[m[1]], f)
		}
	}
	if len(ports) == 0 {
		t.Fatal("no metrics address found in deploy/ or the docs")
	}
	if len(ports) > 1 {
		t.Errorf("the files suggest several metrics ports: %v", ports)
	}
	for p, where := range ports {
		n, _ := strconv.Atoi(p)
		if n >= 9100 && n <= 9999 || n == 8000 {
			t.Errorf("metrics port %s (in %v) is taken on many hosts: 9100-9999 are the exporters' ports, 8000 the API's", p, where)
		}
	}
}

package deploy

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var (
	digest     = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	exactTag   = regexp.MustCompile(`:v?\d+\.\d+\.\d+(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?$`)
	argDefault = regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)`)
)

// unpinned are the images with neither a digest nor an exact version tag
// that a test may accept, with the reason.
var unpinned = map[string]string{
	// distroless publishes no version tags, and no digest of it is stored
	// anywhere this project can check one offline.
	"gcr.io/distroless/static-debian12:nonroot": "no version tags",
}

// checkPinned fails for an image that a rebuild or `docker compose pull`
// could silently change: a floating tag (7.2, 1.26, latest) instead of an
// exact version or a digest.
func checkPinned(t *testing.T, where, image string) {
	t.Helper()
	if _, ok := unpinned[image]; ok {
		return
	}
	if !digest.MatchString(image) && !exactTag.MatchString(image) {
		t.Errorf("%s uses %q: pin an exact version tag (or a digest)", where, image)
	}
}

func TestImagesPinned(t *testing.T) {
	df := string(read(t, "Dockerfile"))
	args := map[string]string{}
	for _, m := range argDefault.FindAllStringSubmatch(df, -1) {
		args[m[1]] = m[2]
	}
	froms := regexp.MustCompile(`(?m)^FROM (?:--platform=\S+ )?(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile: %d FROM lines", len(froms))
	}
	for _, m := range froms {
		img := regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(m[1], func(v string) string {
			return args[strings.Trim(v, "${}")]
		})
		checkPinned(t, "Dockerfile", img)
	}
	files, _ := filepath.Glob("*.yml")
	more, _ := filepath.Glob("*/docker-compose.yml")
	for _, f := range append(files, more...) {
		var c composeFile
		if err := yaml.Unmarshal(read(t, f), &c); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for name, s := range c.Services {
			if s.Image != "" && s.Build.Context == "" {
				checkPinned(t, f+" service "+name, s.Image)
			}
		}
	}
}

// The image says which steadyrest it holds: the version the build is
// given reaches both the binary (-X main.version) and the OCI label, and
// the compose file passes one in.
func TestImageVersionLabel(t *testing.T) {
	df := string(read(t, "Dockerfile"))
	final := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{"\nARG VERSION", `org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${REVISION}"`} {
		if !strings.Contains(final, want) {
			t.Errorf("the Dockerfile's final stage lacks %q", want)
		}
	}
	var c struct {
		Services map[string]struct {
			Build struct {
				Args map[string]string `yaml:"args"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &c); err != nil {
		t.Fatal(err)
	}
	if v := c.Services["steadyrest"].Build.Args["VERSION"]; !strings.Contains(v, "STEADYREST_VERSION") {
		t.Errorf("docker-compose.yml builds steadyrest with VERSION=%q; want it from STEADYREST_VERSION", v)
	}
}

package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docFiles returns the top-level *.md (README, CHANGELOG, SECURITY) and
// every docs/*.md, relative to deploy/.
func docFiles(t *testing.T) []string {
	t.Helper()
	top, err := filepath.Glob("../*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(top, docs...)
}

var (
	fence      = regexp.MustCompile("(?ms)^```.*?^```")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a (?:name|id)="([^"]+)"`)
)

// prose drops fenced blocks and inline code, where brackets are not links.
func prose(md string) string {
	return inlineCode.ReplaceAllString(fence.ReplaceAllString(md, ""), "")
}

// anchors returns the fragment ids GitHub gives a file's headings: lower
// case, punctuation dropped, spaces as dashes, repeats numbered -1, -2, …
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(md, ""), -1) {
		text := strings.NewReplacer("`", "", "*", "").Replace(m[1])
		// A link in a heading anchors on its text.
		text = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(text, "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && !strings.ContainsRune("—–’“”…×→≤≥", r):
				b.WriteRune(r)
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			out[fmt.Sprintf("%s-%d", id, n)] = true
		} else {
			out[id] = true
		}
		seen[id]++
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(md, -1) {
		out[m[1]] = true
	}
	return out
}

// Every relative link in README.md, CHANGELOG.md and docs/*.md names a
// file or folder of the repository, and every #fragment a heading of the
// file it points into.
func TestDocLinksResolve(t *testing.T) {
	var checked int
	for _, doc := range docFiles(t) {
		md := string(read(t, doc))
		for _, m := range mdLink.FindAllStringSubmatch(prose(md), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, frag, _ := strings.Cut(target, "#")
			file := doc
			if path != "" {
				file = filepath.Join(filepath.Dir(doc), path)
				st, err := os.Stat(file)
				if err != nil {
					t.Errorf("%s links to %s: %v", doc, target, err)
					continue
				}
				if st.IsDir() || !strings.HasSuffix(file, ".md") {
					if frag != "" {
						t.Errorf("%s links to %s: a fragment into a non-markdown target", doc, target)
					}
					continue
				}
			}
			if frag != "" && !anchors(string(read(t, file)))[frag] {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", doc, target, file, frag)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d relative links checked: is the link pattern still right?", checked)
	}
}

// The anchor rule itself, on headings whose ids GitHub is known to give.
func TestAnchors(t *testing.T) {
	got := anchors("# Several hosts, one repository: the shared overlay\n## `--max-size` (the quota)\n## Tests\n## Tests\n```\n# not a heading\n```\n")
	for _, want := range []string{"several-hosts-one-repository-the-shared-overlay", "--max-size-the-quota", "tests", "tests-1"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a line in a code block counted as a heading")
	}
}

// The README is the front page: what and why, install, a quick start and
// the ways in; everything else lives in docs/.
func TestReadmeShort(t *testing.T) {
	lines := strings.Count(string(read(t, "../README.md")), "\n")
	if lines > 300 {
		t.Errorf("README.md has %d lines; keep it near 250 and move the rest into docs/", lines)
	}
}

// docs/monitoring.md names every shipped alert, and no alert the rules do
// not have.
func TestAlertsDocumented(t *testing.T) {
	var rf ruleFile
	if err := yaml.Unmarshal(read(t, "prometheus/alerts.yml"), &rf); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r.Alert)
			}
		}
	}
	doc := string(read(t, "../docs/monitoring.md"))
	named := regexp.MustCompile(`\bSteadyrest[A-Z][A-Za-z]+\b`).FindAllString(doc, -1)
	for _, a := range rules {
		if !slices.Contains(named, a) {
			t.Errorf("docs/monitoring.md does not name the alert %s", a)
		}
	}
	for _, a := range named {
		if !slices.Contains(rules, a) {
			t.Errorf("docs/monitoring.md names %s, which alerts.yml does not have", a)
		}
	}
	if want := fmt.Sprintf("%d alerts", len(rules)); !strings.Contains(doc, want) {
		t.Errorf("docs/monitoring.md does not say %q", want)
	}
}

// glossaryTerms are the words the pages use for steadyrest's own ideas,
// with the glossary's anchor for each.
var glossaryTerms = map[string]string{
	"overlay":        "overlay",
	"tombstone":      "tombstone",
	"settle window":  "settle-window",
	"reap":           "reap",
	"spool":          "spool",
	"write-behind":   "write-behind",
	"written behind": "write-behind",
	"confirmer":      "confirmer",
}

// A page that uses one of steadyrest's own words links it to the glossary
// at its first use (or before), so that no page uses a word before it is
// defined.
func TestGlossaryLinkedAtFirstUse(t *testing.T) {
	gl := anchors(string(read(t, "../docs/glossary.md")))
	for term, anchor := range glossaryTerms {
		if !gl[anchor] {
			t.Fatalf("docs/glossary.md has no entry #%s for %q", anchor, term)
		}
	}
	for _, doc := range docFiles(t) {
		if strings.HasSuffix(doc, "glossary.md") || strings.HasSuffix(doc, "SECURITY.md") {
			continue
		}
		text := strings.ToLower(prose(string(read(t, doc))))
		// Headings name a page's subject; the prose under them is where a
		// reader meets the word.
		text = heading.ReplaceAllStringFunc(text, func(h string) string { return strings.Repeat(" ", len(h)) })
		for term, anchor := range glossaryTerms {
			use := regexp.MustCompile(`\b` + regexp.QuoteMeta(term) + `s?\b`).FindStringIndex(text)
			if use == nil {
				continue
			}
			// An entry whose name holds the word counts (#shared-overlay
			// for "overlay").
			link := regexp.MustCompile(`glossary\.md#[a-z-]*` + anchor + `\)`).FindStringIndex(text)
			// The link's text is the word itself: the link ends just after it.
			if link == nil || link[0] > use[1]+len("](docs/") {
				t.Errorf("%s uses %q before linking it to the glossary (#%s)", doc, term, anchor)
			}
		}
	}
}

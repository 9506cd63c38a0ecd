package consistency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// rest is a minimal client of the REST protocol (v2) for one repository.
type rest struct {
	t    testing.TB
	base string // http://host:port/repo
	c    *http.Client
}

func (r rest) do(method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.x.restic.rest.v2")
	resp, err := r.c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

func (r rest) must(method, path string, body []byte, want int) []byte {
	r.t.Helper()
	code, b, err := r.do(method, path, body)
	if err != nil || code != want {
		r.t.Fatalf("%s %s: status %d (%v), want %d: %s", method, path, code, err, want, b)
	}
	return b
}

// listNames lists a folder of the repository (v2 JSON).
func (r rest) listNames(typ string) (map[string]int64, error) {
	code, b, err := r.do(http.MethodGet, "/"+typ+"/", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("list %s: status %d: %s", typ, code, b)
	}
	var entries []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("list %s: %w: %s", typ, err, b)
	}
	m := map[string]int64{}
	for _, e := range entries {
		m[e.Name] = e.Size
	}
	return m, nil
}

func lockBlob(s string) (name string, data []byte) {
	data = []byte(s)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), data
}

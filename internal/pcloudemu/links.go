package pcloudemu

// Download links and the downloads they serve.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (s *Server) getFileLink(_ *http.Request, p url.Values) (map[string]any, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("link tag: %w", err)
	}
	tag := hex.EncodeToString(raw[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if s.refusesFresh(s.opt.FreshLinkFails, n, now, &s.stats.FreshLinkRefusals, "link") {
		return nil, errNoFile
	}
	for k, l := range s.links {
		if now.After(l.expires) {
			delete(s.links, k)
		}
	}
	// The link serves the revision it was issued for, like a link to pCloud's
	// content servers; a later overwrite or delete does not change it.
	l := &link{data: n.data, name: n.name, contentType: n.contentType, modified: n.modified, expires: now.Add(s.opt.LinkTTL)}
	s.links[tag] = l
	return map[string]any{
		"path":    "/dl/" + tag + "/" + url.PathEscape(n.name),
		"hosts":   []string{s.Hostname()},
		"expires": l.expires.UTC().Format(pcloudTime),
		"dwltag":  tag,
		"hash":    n.hash,
		"size":    int64(len(n.data)),
	}, nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Calls["download"]++
	latency := s.opt.Latency
	s.mu.Unlock()
	if !sleep(r, latency) {
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/dl/")
	tag, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	l, ok := s.links[tag]
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "link not found", http.StatusNotFound)
		return
	case time.Now().After(l.expires):
		http.Error(w, "link expired", http.StatusGone)
		return
	}
	w.Header().Set("Content-Type", l.contentType)
	http.ServeContent(w, r, l.name, l.modified, bytes.NewReader(l.data))
}

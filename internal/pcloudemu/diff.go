package pcloudemu

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The diff log backs pCloud's /diff long-poll, which rclone's ChangeNotify
// (used by mounts, not by the restic path) reads. It keeps the last
// maxDiffEvents events.
const (
	maxDiffEvents = 10000
	diffBlock     = 30 * time.Second // longest a blocking /diff waits
)

type diffEvent struct {
	id       int64
	event    string
	at       time.Time
	metadata map[string]any
}

// recordEvent appends an event and wakes blocked /diff calls; s.mu held.
func (s *Server) recordEvent(event string, n *node, now time.Time) {
	s.recordEventMeta(event, n.metadata(), now)
}

func (s *Server) recordEventMeta(event string, md map[string]any, now time.Time) {
	s.lastDiff++
	s.diffs = append(s.diffs, diffEvent{id: s.lastDiff, event: event, at: now, metadata: md})
	if len(s.diffs) > maxDiffEvents {
		s.diffs = append(s.diffs[:0], s.diffs[len(s.diffs)-maxDiffEvents:]...)
	}
	close(s.diffWake)
	s.diffWake = make(chan struct{})
}

func (s *Server) diff(r *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	after, hasAfter := int64(0), p.Get("diffid") != ""
	if hasAfter {
		v, err := strconv.ParseInt(p.Get("diffid"), 10, 64)
		if err != nil {
			return nil, &apiError{2000, "Invalid diffid."}
		}
		after = v
	} else if v := p.Get("last"); v != "" {
		// last=N: the N most recent events (rclone sends last=0 to learn
		// the current diffid).
		last, err := strconv.Atoi(v)
		if err != nil || last < 0 {
			return nil, &apiError{2000, "Invalid last."}
		}
		after = s.lastDiff - int64(last)
	}
	if hasAfter && isTrue(p.Get("block")) && after >= s.lastDiff {
		deadline := time.NewTimer(diffBlock)
		defer deadline.Stop()
	wait:
		for after >= s.lastDiff {
			wake := s.diffWake
			s.mu.Unlock()
			select {
			case <-wake:
				s.mu.Lock()
			case <-deadline.C:
				s.mu.Lock()
				break wait
			case <-r.Context().Done():
				s.mu.Lock()
				break wait
			case <-s.closing:
				s.mu.Lock()
				break wait
			}
		}
	}
	entries := []map[string]any{}
	for _, e := range s.diffs {
		if e.id > after {
			entries = append(entries, map[string]any{
				"event":    e.event,
				"diffid":   e.id,
				"time":     e.at.UTC().Format(pcloudTime),
				"metadata": e.metadata,
			})
		}
	}
	return map[string]any{"diffid": s.lastDiff, "entries": entries}, nil
}

// getFilePubLink and getFolderPubLink hand out public links. Nothing serves
// them; rclone only passes the URL on.
func (s *Server) getFilePubLink(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	return s.pubLink("f", n.id), nil
}

func (s *Server) getFolderPubLink(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.folderArg(p, "folderid", "path")
	if err != nil {
		return nil, err
	}
	return s.pubLink("d", n.id), nil
}

// pubLink makes a stable link code for a file or folder; s.mu held.
func (s *Server) pubLink(kind string, id int64) map[string]any {
	code := kind + strconv.FormatInt(id, 36)
	linkID := id
	if kind == "d" {
		linkID = -id - 1 // keep file and folder link ids apart
	}
	return map[string]any{
		"linkid": linkID,
		"code":   code,
		"link":   "https://" + s.Hostname() + "/publink/show?code=" + code,
	}
}

package pcloudemu

// What the API tells about a file and the account without a download:
// checksums, stat, user info.

import (
	"net/http"
	"net/url"
)

func (s *Server) checksumFile(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	res := s.checksums(n)
	res["metadata"] = n.metadata()
	return res, nil
}

func (s *Server) stat(_ *http.Request, p url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Get("folderid") != "" {
		f, err := s.folderArg(p, "folderid", "")
		if err != nil {
			return nil, err
		}
		return map[string]any{"metadata": f.metadata()}, nil
	}
	if v := p.Get("path"); v != "" && p.Get("fileid") == "" {
		n, err := s.lookupPath(v)
		if err != nil {
			return nil, err
		}
		return map[string]any{"metadata": n.metadata()}, nil
	}
	n, err := s.fileArg(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"metadata": n.metadata()}, nil
}

func (s *Server) userInfo(_ *http.Request, _ url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{
		"email":         "emulator@pcloudemu.invalid",
		"emailverified": true,
		"userid":        1,
		"quota":         s.opt.Quota,
		"usedquota":     s.usedBytes,
		"premium":       true,
		"plan":          1,
		"language":      "en",
		"registered":    s.root.created.UTC().Format(pcloudTime),
	}, nil
}

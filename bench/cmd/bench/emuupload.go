package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// upload copies the local folder src to the folder dst on the emulator
// through its API, one uploadfile call per folder (pCloud's uploadfile
// takes many files in one multipart body): a copy of 20,000 packs costs
// about 260 calls, where rclone copy makes one per file and takes
// minutes on this machine. The calls count in the emulator's stats like
// any other: read the counters after it.
func (e *emulator) upload(ctx context.Context, src, dst string) error {
	c := e.client()
	defer c.CloseIdleConnections()
	call := func(method string, q url.Values, body io.Reader, ctype string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL()+"/"+method+"?"+q.Encode(), body)
		if err != nil {
			return fmt.Errorf("%s request: %w", method, err)
		}
		req.Header.Set("Authorization", "Bearer "+e.Options().AccessToken)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		defer resp.Body.Close()
		var res struct {
			Result int    `json:"result"`
			Error  string `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return fmt.Errorf("%s answer: %w", method, err)
		}
		if res.Result != 0 {
			return fmt.Errorf("%s %s: %d %s", method, q.Get("path"), res.Result, res.Error)
		}
		return nil
	}
	files := map[string][]string{} // folder (slash path under dst) -> file names
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			dirs = append(dirs, rel)
		} else {
			files[path.Dir(rel)] = append(files[path.Dir(rel)], path.Base(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", src, err)
	}
	sort.Strings(dirs) // parents first
	for _, parent := range []string{path.Dir(dst), dst} {
		if err := call("createfolderifnotexists", url.Values{"path": {parent}}, nil, ""); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if d != "." {
			if err := call("createfolderifnotexists", url.Values{"path": {path.Join(dst, d)}}, nil, ""); err != nil {
				return err
			}
		}
		if len(files[d]) == 0 {
			continue
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, name := range files[d] {
			data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(d), name))
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			w, err := mw.CreateFormFile("file", name)
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if _, err := w.Write(data); err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
		}
		if err := mw.Close(); err != nil {
			return fmt.Errorf("multipart: %w", err)
		}
		if err := call("uploadfile", url.Values{"path": {path.Join(dst, d)}, "nopartial": {"1"}}, &body, mw.FormDataContentType()); err != nil {
			return err
		}
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

// pruneLag is the create/delete lag of the prune scenario's remotes, and
// pruneLatency what each remote request costs.
const (
	pruneLag     = 3 * time.Second
	pruneLatency = 2 * time.Millisecond
)

// pruneTarget is one fresh copy of the prune repository on a counting
// remote, ready for one server: the repository is <remote>/repo.
type pruneTarget struct {
	remote      string
	steadyFlags []string // steadyrest's extra flags for this remote
	rcloneFlags []string // rclone serve restic's
	counts      func() map[string]float64
	rows        func(ctx context.Context, d map[string]float64) (map[string]float64, error)
	close       func()
}

// pruneRemote makes targets on one kind of remote: its table name, a
// short name for folders, its row names (in table order) and a maker.
type pruneRemote struct {
	title, slug string
	rowNames    []string
	keyRows     []string // the rows also shown with the tail
	prepare     func(ctx context.Context, base *pruneBase, dir, folder string) (*pruneTarget, error)
}

// davRows are the WebDAV requests by kind.
var davRows = []string{"DELETE", "PROPFIND of a data/xx folder", "PROPFIND of one pack (lookup)", "PROPFIND, other", "GET", "PUT", "MKCOL", "other"}

// pruneWebDAV: the counting WebDAV server over a cp -a copy, 2 ms per
// request, behind rclone's lag backend (3 s create and delete lag, in each
// server's process) over rclone's webdav backend.
func (b *bench) pruneWebDAV() pruneRemote {
	return pruneRemote{title: "prune, WebDAV", slug: "webdav", rowNames: davRows, keyRows: davRows[:3],
		prepare: func(_ context.Context, base *pruneBase, dir, _ string) (*pruneTarget, error) {
			if err := copyTree(base.repo(), filepath.Join(dir, "remote", "repo")); err != nil {
				return nil, err
			}
			dav, err := startDAV(filepath.Join(dir, "remote"), pruneLatency)
			if err != nil {
				return nil, err
			}
			remote := fmt.Sprintf(":lag,remote=%q,create_lag=%v,delete_lag=%v:", dav.remote(), pruneLag, pruneLag)
			return &pruneTarget{remote: remote,
				counts: func() map[string]float64 { _, m, _ := dav.calls(); return m },
				rows: func(_ context.Context, d map[string]float64) (map[string]float64, error) {
					return davKinds(d), nil
				},
				close: func() {
					if err := dav.close(); err != nil {
						logf("warning: %v", err)
					}
				}}, nil
		}}
}

// davKinds folds a difference of davServer.calls into davRows plus
// "total" (every request once).
func davKinds(d map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range d {
		switch {
		case k == "PROPFIND data/xx d1":
			out["PROPFIND of a data/xx folder"] += v
		case k == "PROPFIND data/xx/file d0":
			out["PROPFIND of one pack (lookup)"] += v
		case strings.HasPrefix(k, "PROPFIND "):
		case k == "PROPFIND":
			out["total"] += v
		case k == "DELETE" || k == "GET" || k == "PUT" || k == "MKCOL":
			out[k] += v
			out["total"] += v
		default:
			out["other"] += v
			out["total"] += v
		}
	}
	out["PROPFIND, other"] = d["PROPFIND"] - out["PROPFIND of a data/xx folder"] - out["PROPFIND of one pack (lookup)"]
	return out
}

// pruneEmuRows are the emulator's API calls by method, then listfolder by
// folder.
func pruneEmuRows() []string {
	rows := append(append([]string{}, emuMethods...), "other")
	for _, g := range listGroups {
		rows = append(rows, "listfolder of "+g)
	}
	return rows
}

// prunePCloud: the pCloud emulator (one for the scenario, a folder per
// run), the repository uploaded through the API while the emulator
// has no lag, then pCloud's behaviour (list lag 3 s, fresh deletes
// refused) and 2 ms per call, after a pause that lets the upload settle.
func (b *bench) prunePCloud(emu *emulator) pruneRemote {
	return pruneRemote{title: "prune, pCloud emulator", slug: "pcloud", rowNames: pruneEmuRows(),
		keyRows: []string{"deletefile", "listfolder of data/xx", "stat"},
		prepare: func(ctx context.Context, base *pruneBase, dir, folder string) (*pruneTarget, error) {
			emu.SetOptions(withLogger(pcloudemu.Options{}, emu))
			if err := emu.upload(ctx, base.repo(), "/"+folder+"/repo"); err != nil {
				return nil, fmt.Errorf("upload the repository to the emulator: %w", err)
			}
			opt := emuOptions()
			opt.Latency = pruneLatency
			emu.SetOptions(withLogger(opt, emu))
			// Long settled: nothing younger than the list lag or the
			// fresh-delete window.
			time.Sleep(pruneLag + time.Second)
			repoPath := "/" + folder + "/repo"
			return &pruneTarget{remote: emuRemoteName + ":" + folder,
				steadyFlags: []string{"--rclone-config", emu.conf}, rcloneFlags: []string{"--config", emu.conf},
				counts: func() map[string]float64 {
					m := emu.calls()
					for k, v := range emu.lists.snapshot() {
						m["lf "+k] = v
					}
					return m
				},
				rows: func(ctx context.Context, d map[string]float64) (map[string]float64, error) {
					methods, lists := map[string]float64{}, map[string]float64{}
					for k, v := range d {
						if rest, ok := strings.CutPrefix(k, "lf "); ok {
							lists[rest] = v
						} else {
							methods[k] = v
						}
					}
					out := byMethod(methods)
					_, out["total"] = diff(nil, methods)
					groups, err := emu.listsByFolder(ctx, repoPath, lists)
					if err != nil {
						return nil, err
					}
					for g, v := range groups {
						out["listfolder of "+g] = v
					}
					return out, nil
				},
				close: func() {}}, nil
		}}
}

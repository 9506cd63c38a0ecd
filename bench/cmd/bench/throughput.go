package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/steadyrest/steadyrest/internal/e2e"
)

// genData writes size bytes of incompressible data as 64 MiB files into
// dir once; a marker file makes later runs reuse it.
func genData(dir string, size int64) error {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	src := rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'})
	const chunk = 64 << 20
	for i := 0; size > 0; i++ {
		n := min(size, chunk)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("blob%03d.bin", i)))
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		_, err = io.CopyN(f, src, n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write data: %w", err)
		}
		size -= n
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	return nil
}

// throughput: backup then restore of incompressible data on a local
// folder, fresh repository per server and round.
func (b *bench) throughput(ctx context.Context) error {
	size := int64(b.c.size)
	data := filepath.Join(b.c.work, fmt.Sprintf("data-%d", size))
	logf("generating %s of data in %s (once)", b.c.size, data)
	if err := genData(data, size); err != nil {
		return err
	}
	mib := float64(size) / (1 << 20)
	for round := 1; round <= b.c.rounds; round++ {
		for _, kind := range b.throughputKinds(round) {
			dir, err := b.roundDir("throughput", kind, round)
			if err != nil {
				return err
			}
			err = withServer(b.spec(kind, filepath.Join(dir, "remote"), filepath.Join(dir, "state"), ""), func(srv *e2e.Server) error {
				repo := srv.URL("repo")
				cache := filepath.Join(dir, "cache")
				if _, _, err := b.r.run(ctx, repo, cache, "init"); err != nil {
					return err
				}
				if err := b.syncDisks(ctx); err != nil {
					return err
				}
				b.addDirty("backup", kind, round)
				cpu0 := serverCPU(srv)
				d, _, err := b.r.run(ctx, repo, cache, "backup", "--no-scan", data)
				if err != nil {
					return err
				}
				cpu1 := serverCPU(srv)
				b.res.add(sample{Scenario: "throughput", Metric: "backup " + b.c.size.String(), Unit: "MiB/s", Server: kind, Round: round, Value: mib / d.Seconds()})
				b.res.add(sample{Scenario: "throughput", Metric: "server CPU during backup", Unit: "s", Server: kind, Round: round, Value: cpu1 - cpu0})
				b.res.add(sample{Scenario: "throughput", Metric: "peak RSS after backup", Unit: "MiB", Server: kind, Round: round, Value: peakMiB(srv)})
				if err := b.syncDisks(ctx); err != nil {
					return err
				}
				b.addDirty("restore", kind, round)
				d, _, err = b.r.run(ctx, repo, cache, "restore", "latest", "--target", filepath.Join(dir, "restore"))
				if err != nil {
					return err
				}
				b.res.add(sample{Scenario: "throughput", Metric: "restore " + b.c.size.String(), Unit: "MiB/s", Server: kind, Round: round, Value: mib / d.Seconds()})
				b.res.add(sample{Scenario: "throughput", Metric: "server CPU during restore", Unit: "s", Server: kind, Round: round, Value: serverCPU(srv) - cpu1})
				b.res.add(sample{Scenario: "throughput", Metric: "peak RSS after restore", Unit: "MiB", Server: kind, Round: round, Value: peakMiB(srv)})
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s round %d: %w", kind, round, err)
			}
			// Free the disk before the next run.
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("clean: %w", err)
			}
		}
	}
	b.noteVariants("throughput")
	return nil
}

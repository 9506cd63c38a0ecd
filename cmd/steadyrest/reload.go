package main

import (
	"context"
	"log/slog"
	"os"
)

// reloaders are what SIGHUP reloads, as rest-server reloads its htpasswd:
// each reports its own failure and keeps what it had.
type reloaders struct {
	names []string
	funcs []func() error
}

func (r *reloaders) add(name string, f func() error) {
	r.names = append(r.names, name)
	r.funcs = append(r.funcs, f)
}

// onSignal reloads everything on every value of hup until ctx ends.
func (r *reloaders) onSignal(ctx context.Context, hup <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading", "what", len(r.funcs))
			for i, f := range r.funcs {
				if err := f(); err != nil {
					log.Error("reload failed: keeping the previous one", "what", r.names[i], "err", err)
					continue
				}
				log.Info("reloaded", "what", r.names[i])
			}
		}
	}
}

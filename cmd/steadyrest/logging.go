package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/rclone/rclone/fs"
)

// newLogger is the one log stream: steadyrest's lines, rclone's (through
// fs.SetLogger) and the standard library's (through slog's default), in
// --log-format, with the config's secrets hidden.
func newLogger(cfg *config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.logFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redactHandler{h, newRedactor(knownSecrets(cfg))})
}

// installLogger makes log the process's only log stream.
func installLogger(log *slog.Logger) {
	slog.SetDefault(log)
	fs.SetLogger(log.Handler()) // rclone's fs.Logf, fs.Errorf, … (plain text on stderr otherwise)
}

// rcloneLevels names the levels rclone adds between slog's.
var rcloneLevels = map[slog.Level]string{
	fs.SlogLevelNotice:    "NOTICE",
	fs.SlogLevelCritical:  "CRITICAL",
	fs.SlogLevelAlert:     "ALERT",
	fs.SlogLevelEmergency: "EMERGENCY",
}

// replaceAttr writes durations as people read them (1m30s, not
// 90000000000) and rclone's extra levels by name.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	switch {
	case a.Value.Kind() == slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case a.Key == slog.LevelKey && len(groups) == 0:
		if l, ok := a.Value.Any().(slog.Level); ok {
			if name, ok := rcloneLevels[l]; ok {
				return slog.String(a.Key, name)
			}
		}
	}
	if d, ok := a.Value.Any().(time.Duration); ok && a.Value.Kind() == slog.KindAny {
		return slog.String(a.Key, d.String())
	}
	return a
}

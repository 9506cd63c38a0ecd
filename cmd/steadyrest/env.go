package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

const envPrefix = "STEADYREST_"

// envName is the variable of flag name: STEADYREST_<NAME>, '-' as '_'.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagEnv is the variables that set f, lowest precedence first (a peer's,
// then ours); an alias has its target's.
func flagEnv(fl *pflag.FlagSet, f *pflag.Flag) []string {
	if t := aliasOf(f.Name); t != "" {
		f = fl.Lookup(t)
	}
	return f.Annotations[annEnv]
}

// applyEnv sets every flag from its variables, as defaults the command
// line overrides; an empty variable counts as unset. It runs before the
// command line is parsed.
func applyEnv(fl *pflag.FlagSet) error {
	var err error
	fl.VisitAll(func(f *pflag.Flag) {
		// rclone's own flags read their RCLONE_* variables themselves.
		if err != nil || aliasOf(f.Name) != "" || flagGroup(f) == groupRclone {
			return
		}
		for _, name := range f.Annotations[annEnv] {
			v, ok := os.LookupEnv(name)
			if !ok || v == "" {
				continue
			}
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", name, redactText(v), e)
				return
			}
		}
		if l, ok := f.Value.(*listValue); ok {
			l.restart()
		}
	})
	return err
}

// flagGroup is the help group f belongs to.
func flagGroup(f *pflag.Flag) string {
	if g := f.Annotations[annGroup]; len(g) > 0 {
		return g[0]
	}
	return ""
}

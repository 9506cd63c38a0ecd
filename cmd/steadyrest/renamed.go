package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"
)

// Our old names for our own flags keep working for a while after a
// rename, under both their flag and their variable: hidden from the help,
// each use warns in the log with the new name, and an old and a new name
// that disagree are refused, since which one was meant cannot be told (a
// --shared URL must be the same on every instance). pflag's MarkDeprecated
// would print to stderr instead of the log and know nothing of variables.

// renames are the old names (string flags only), with the flag each now is.
var renames = []struct{ old, now string }{
	{"overlay", "shared"},           // "overlay" is the idea, whether shared or not
	{"overlay-file", "shared-file"}, // as --overlay
}

// renamedFlag is one old name as given: its flag, with its own value so
// that it can be told apart from the new name's.
type renamedFlag struct {
	old, now *pflag.Flag
}

// defineRenamedFlags adds the old names, each with its variable, and
// keeps them in c for finish.
func defineRenamedFlags(d flagDefiner, c *config) {
	for _, r := range renames {
		d.fl.String(r.old, "", "deprecated: the old name of --"+r.now)
		f := d.fl.Lookup(r.old)
		f.Hidden = true
		f.Annotations = map[string][]string{annGroup: {groupOld}, annEnv: {envName(r.old)}}
		c.renamed = append(c.renamed, renamedFlag{old: f, now: d.fl.Lookup(r.now)})
	}
}

// given says where f's value came from, by the name the user wrote:
// the command line wins over the variable; "" when not given.
func given(f *pflag.Flag) string {
	switch {
	case f.Value.String() == "":
		return ""
	case f.Changed:
		return "--" + f.Name
	}
	return "$" + envName(f.Name)
}

// names are the old name as given ("" if not) and the new name of the
// same kind: the flag for a flag, the variable for a variable.
func (r renamedFlag) names() (old, use string) {
	old = given(r.old)
	if old != "" && old[0] == '$' {
		return old, "$" + envName(r.now.Name)
	}
	return old, "--" + r.now.Name
}

// resolveRenamed moves what the old names gave to their new names; an old
// and a new name given different values is an error.
func (c *config) resolveRenamed() error {
	for _, r := range c.renamed {
		old, use := r.names()
		if old == "" {
			continue
		}
		if now := given(r.now); now != "" && r.now.Value.String() != r.old.Value.String() {
			return fmt.Errorf("%s and %s give different values: %s is the deprecated name of %s; give the value once, as %s", old, now, old, use, use)
		}
		if err := r.now.Value.Set(r.old.Value.String()); err != nil {
			return fmt.Errorf("%s: %w", old, err)
		}
	}
	return nil
}

// warnRenamed logs each old name given, with the name to use instead.
func warnRenamed(c *config, log *slog.Logger) {
	for _, r := range c.renamed {
		if old, use := r.names(); old != "" {
			log.Warn("deprecated name still accepted, to be removed: use the new name", "deprecated", old, "use", use)
		}
	}
}

package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rclone/rclone/fs"
)

// listValue is a repeatable flag whose values may also be separated by
// commas. The first Set after the default, or after the environment
// (restart), replaces the list instead of adding to it.
type listValue struct {
	vals    *[]string
	touched bool
}

func (l *listValue) String() string { return strings.Join(*l.vals, ",") }
func (l *listValue) Type() string   { return "strings" }

func (l *listValue) Set(s string) error {
	if !l.touched {
		*l.vals, l.touched = nil, true
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.vals = append(*l.vals, v)
		}
	}
	return nil
}

// restart marks the end of the environment: the command line's first use
// replaces what the environment gave.
func (l *listValue) restart() { l.touched = false }

// sizeValue is a byte count: plain bytes (as rest-server's --max-size), or
// with rclone's binary suffixes (10G, 64Mi). Shown as rclone shows sizes.
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil {
		return "0"
	}
	return fs.SizeSuffix(*v.n).String()
}

func (v sizeValue) Type() string { return "size" }

func (v sizeValue) Set(s string) error {
	// rclone's parser alone would take a plain number as KiB.
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("negative size %d", n)
		}
		*v.n = n
		return nil
	}
	var ss fs.SizeSuffix
	if err := ss.Set(s); err != nil {
		return fmt.Errorf("size %q: want bytes or a number with K, M, G or T (or Ki, Mi, …)", s)
	}
	if ss < 0 {
		return fmt.Errorf("negative size %q", s)
	}
	*v.n = int64(ss)
	return nil
}

// prefixList is a list of networks, CIDR or single addresses, separated by
// commas; the first Set replaces the default.
type prefixList struct{ p *[]netip.Prefix }

func (v *prefixList) Type() string { return "CIDRs" }

func (v *prefixList) String() string {
	s := make([]string, len(*v.p))
	for i, p := range *v.p {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (v *prefixList) Set(s string) error {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return fmt.Errorf("%q is neither an address nor a CIDR", part)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	*v.p = out
	return nil
}

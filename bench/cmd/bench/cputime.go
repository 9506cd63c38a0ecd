package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on.
const clockTicks = 100

// cpuSeconds is the CPU time (user + system) a process has used so far,
// from /proc/PID/stat. On a machine shared with other work it is a steadier
// measure of a server's own cost than wall time, which waits for the
// others.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	user, sys, err := parseStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(user+sys) / clockTicks, nil
}

// parseStatCPU returns utime and stime (fields 14 and 15, in clock ticks)
// of a /proc/PID/stat line. The command name (field 2) is in parentheses
// and may hold spaces and parentheses itself, so fields are counted from
// the last ')'.
func parseStatCPU(stat string) (user, sys int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%d fields after the command name, want 13 or more", len(f))
	}
	if user, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if sys, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return user, sys, nil
}

// dirtyMiB is the page cache waiting to be written to disk (Dirty +
// Writeback in /proc/meminfo), in MiB: what a command that writes starts
// against. The kernel throttles writers once it passes a share of memory,
// so a server that leaves more behind (the spool's copy of every pack)
// can slow the next command that writes, whoever it belongs to.
func dirtyMiB() (float64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("meminfo: %w", err)
	}
	kib, err := parseDirtyKiB(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/meminfo: %w", err)
	}
	return float64(kib) / 1024, nil
}

// parseDirtyKiB sums the Dirty and Writeback lines of /proc/meminfo.
func parseDirtyKiB(meminfo string) (int64, error) {
	var sum int64
	found := 0
	for _, line := range strings.Split(meminfo, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "Dirty" && name != "Writeback") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: no value", name)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		sum += v
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("found %d of Dirty and Writeback", found)
	}
	return sum, nil
}

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
)

// systemd's socket activation and readiness protocols, as sd_listen_fds(3)
// and sd_notify(3) describe them; small enough not to need a library.

// listenSystemd is --listen systemd:.
const listenSystemd = "systemd:"

// sdListenFDStart is the first descriptor systemd passes.
const sdListenFDStart = 3

// socketActivated reports whether systemd passed this process sockets.
func socketActivated() bool {
	return os.Getenv("LISTEN_FDS") != "" && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid())
}

// systemdListeners returns the sockets systemd passed, and clears the
// variables so that no child process takes them for its own.
func systemdListeners() ([]net.Listener, error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	if fds == "" {
		return nil, errors.New("--listen systemd: but systemd passed no sockets (LISTEN_FDS is unset): start steadyrest through a .socket unit, or give an address")
	}
	if pid != strconv.Itoa(os.Getpid()) {
		return nil, fmt.Errorf("--listen systemd: the sockets are for process %s, not this one (%d)", pid, os.Getpid())
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("--listen systemd: LISTEN_FDS=%q passes no sockets", fds)
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(v)
	}
	lns := make([]net.Listener, 0, n)
	for i := range n {
		name := "systemd-socket-" + strconv.Itoa(i)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		f := os.NewFile(uintptr(sdListenFDStart+i), name)
		ln, err := net.FileListener(f)
		f.Close() // FileListener holds its own copy
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("socket %s from systemd: %w (a .socket unit for steadyrest needs ListenStream=)", name, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// sdNotify tells systemd (Type=notify) about the service's state: READY=1
// once it serves, STOPPING=1 when it starts to shut down. Without
// $NOTIFY_SOCKET it does nothing; a failure is logged, never fatal.
func sdNotify(log *slog.Logger, state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if strings.HasPrefix(addr, "@") { // Linux abstract namespace
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		log.Warn("could not notify systemd", "state", state, "err", err)
	}
}

package main

import (
	"net"
	"net/http"
	"sync"
)

// freshConns keeps the connections a server accepted that have not sent a
// request yet. http.Server.Shutdown counts such a connection as idle only
// after five seconds, so one that a client dialled ahead and parked in its
// pool (Go's transport does this under load) holds a shutdown for five
// seconds. No request was read on them: closing them loses nothing.
type freshConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// track is an http.Server.ConnState hook.
func (f *freshConns) track(c net.Conn, st http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st == http.StateNew {
		if f.m == nil {
			f.m = map[net.Conn]struct{}{}
		}
		f.m[c] = struct{}{}
		return
	}
	delete(f.m, c)
}

// closeAll closes the connections that are still waiting for a first
// request.
func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.m {
		_ = c.Close()
		delete(f.m, c)
	}
}

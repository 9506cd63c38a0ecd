package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
)

// listenAll opens every --listen/--addr address, or the sockets systemd
// passed, wraps them in TLS when a certificate is given, and merges them
// into one listener for one http.Server.
func listenAll(cfg *config, log *slog.Logger, reload *reloaders) (net.Listener, error) {
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	switch {
	case len(cfg.listens) == 1 && cfg.listens[0] == listenSystemd, socketActivated():
		sl, err := systemdListeners()
		if err != nil {
			return nil, err
		}
		lns = sl
	default:
		for _, a := range cfg.listens {
			if a == listenSystemd {
				closeAll()
				return nil, errors.New("--listen systemd: takes all its sockets from systemd: give no other address with it")
			}
			one := *cfg
			one.listen, one.tlsCert = a, "" // TLS goes on below, once for all
			ln, err := listen(&one)
			if err != nil {
				closeAll()
				return nil, err
			}
			lns = append(lns, ln)
		}
	}
	if cfg.tlsCert != "" {
		tc, cr, err := newTLSConfig(cfg, log)
		if err != nil {
			closeAll()
			return nil, err
		}
		reload.add("TLS certificate "+cfg.tlsCert, cr.reload)
		for i, l := range lns {
			lns[i] = tls.NewListener(l, tc)
		}
	}
	for _, l := range lns {
		log.Info("listening", "addr", l.Addr().String())
	}
	if len(lns) == 1 {
		return lns[0], nil
	}
	return newMultiListener(lns), nil
}

// multiListener accepts on several listeners at once.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func newMultiListener(lns []net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error, len(lns)), done: make(chan struct{})}
	for _, l := range lns {
		go m.acceptLoop(l)
	}
	return m
}

func (m *multiListener) acceptLoop(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case m.errs <- fmt.Errorf("accept on %s: %w", l.Addr(), err):
			case <-m.done:
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.lns {
			errs = append(errs, l.Close())
		}
	})
	return errors.Join(errs...)
}

// Addr is the first address beyond loopback, else the first:
// the check that refuses an open address without auth looks at it.
func (m *multiListener) Addr() net.Addr {
	for _, l := range m.lns {
		if !isLoopback(l.Addr()) {
			return l.Addr()
		}
	}
	return m.lns[0].Addr()
}

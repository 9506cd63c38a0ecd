package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCommand is `steadyrest healthcheck`, for container
// HEALTHCHECKs, where there is no curl. It takes serve's flags and
// variables, so that it asks where the server listens, over TLS when the
// server speaks it, under --baseurl: the check keeps working when the
// listen address or TLS changes. --url overrides all that.
func newHealthcheckCommand(stderr io.Writer) *cobra.Command {
	c := &config{}
	var url string
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Ask the server the flags and variables describe whether it is alive (for HEALTHCHECK)",
		Long: "Asks the server that these flags and variables (the server's own) describe for /healthz;\n" +
			"exits 0 if it answers 200, 1 if not.",
		Args: cobra.NoArgs,
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "check this URL instead of the one the other flags describe")
	fl.Lookup("url").Annotations = map[string][]string{annGroup: {groupOwn}, annEnv: {envName("healthcheck-url")}}
	envErr := defineAllServeFlags(fl, c)
	cmd.RunE = func(*cobra.Command, []string) error {
		if envErr != nil {
			return fmt.Errorf("the server's settings: %w", envErr)
		}
		return healthcheck(c, url, stderr)
	}
	cmd.SetUsageFunc(printServeUsage)
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { _ = printServeUsage(cmd) })
	return cmd
}

// healthcheck asks url, or the server cfg describes, for /healthz.
func healthcheck(cfg *config, url string, stderr io.Writer) error {
	client := &http.Client{Timeout: 5 * time.Second}
	if url == "" {
		if err := cfg.finish(); err != nil {
			return fmt.Errorf("the server's settings: %w", err)
		}
		var err error
		if url, err = healthURL(cfg, client); err != nil {
			return err
		}
	}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitStatus(exitFailure)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", url, resp.Status)
		return exitStatus(exitFailure)
	}
	return nil
}

// healthURL is /healthz on the server's first listen address, reached
// through loopback when it listens on every interface; it sets client up
// for a unix socket or TLS.
func healthURL(cfg *config, client *http.Client) (string, error) {
	addr := cfg.listens[0]
	tr := &http.Transport{}
	client.Transport = tr
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
		// The certificate names the public host, not 127.0.0.1; this asks
		// the process on this machine whether it is alive, and sends no
		// credentials. With --client-ca the server's own certificate goes
		// along, which works where one CA signs both.
		tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see above
		if cfg.clientCA != "" {
			kp, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
			if err != nil {
				return "", fmt.Errorf("load TLS certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		tr.TLSClientConfig = tc
	}
	switch {
	case addr == listenSystemd:
		return "", fmt.Errorf("with --listen %s the address is systemd's: give --url", listenSystemd)
	case strings.HasPrefix(addr, "unix:"):
		path := strings.TrimPrefix(addr, "unix:")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		addr = "localhost"
	default:
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", fmt.Errorf("listen address %q: %w", addr, err)
		}
		switch ip := net.ParseIP(host); {
		case host == "", ip != nil && ip.Equal(net.IPv4zero):
			host = "127.0.0.1"
		case ip != nil && ip.Equal(net.IPv6unspecified):
			host = "::1"
		}
		addr = net.JoinHostPort(host, port)
	}
	return scheme + "://" + addr + cfg.baseURL + "/healthz", nil
}

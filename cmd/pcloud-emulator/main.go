// Command pcloud-emulator runs the pCloud API emulator (package pcloudemu)
// in the foreground for manual runs of steadyrest or rclone against it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pcloud-emulator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		opt      pcloudemu.Options
		confPath = flag.String("rclone-conf", "", "also write an rclone.conf section into this file")
		confName = flag.String("remote-name", "pcloudemu", "name of the rclone remote in the printed/written config")
		verbose  = flag.Bool("v", false, "log every request")
	)
	flag.StringVar(&opt.Addr, "addr", "127.0.0.1:0", "listen address (loopback)")
	flag.StringVar(&opt.AccessToken, "token", "pcloudemu-token", "access token the API accepts")
	flag.DurationVar(&opt.ListLag, "list-lag", 0, "new files are missing from listfolder, deleted ones stay listed, for this long")
	flag.BoolVar(&opt.FreshDeleteFails, "fresh-delete-fails", false, "deletefile answers 2009 for a fresh file and keeps it")
	flag.BoolVar(&opt.FreshLinkFails, "fresh-link-fails", false, "getfilelink answers 2009 for a fresh file")
	flag.DurationVar(&opt.FreshWindow, "fresh-window", 0, "age below which a file is fresh (default: list-lag, else 2s)")
	flag.Float64Var(&opt.ErrorRate, "error-rate", 0, "share of API calls answered 5000/4000 (0..1)")
	flag.DurationVar(&opt.Latency, "latency", 0, "delay before every answer")
	flag.Uint64Var(&opt.Seed, "seed", 0, "seed for error injection (0: from the clock)")
	flag.Int64Var(&opt.Quota, "quota", 10<<30, "quota in bytes")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	opt.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	srv, err := pcloudemu.New(opt)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Close(); err != nil {
			slog.Error("close", "err", err)
		}
	}()
	if *confPath != "" {
		if err := srv.WriteRcloneConf(*confPath, *confName); err != nil {
			return err
		}
	}

	fmt.Printf("pCloud emulator listening on %s\n", srv.URL())
	fmt.Printf("CA file: %s\n", srv.CAFile())
	fmt.Printf("rclone remote: %s\n", srv.RcloneRemote())
	fmt.Printf("rclone.conf section (the CA is passed via override.ca_cert; alternatively export SSL_CERT_FILE=%s):\n\n%s\n",
		srv.CAFile(), srv.RcloneConfSection(*confName))
	if *confPath != "" {
		fmt.Printf("written to %s\n", *confPath)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	st := srv.Stats()
	slog.Info("stopping", "calls", st.Calls, "injected_errors", st.InjectedErrors,
		"fresh_delete_refusals", st.FreshDeleteRefusals, "fresh_link_refusals", st.FreshLinkRefusals,
		"uptime", time.Since(startTime).Round(time.Second))
	return nil
}

var startTime = time.Now()

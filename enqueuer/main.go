// Command enqueuer is Portalwerk's HTTP server (API, dashboard, metrics) and its
// administrative CLI: `enqueuer [serve]`, `enqueuer migrate`, `enqueuer account …`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"portalwerk/jobs/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "enqueuer:", err)
		os.Exit(1)
	}
}

const usage = `usage: enqueuer [command] [flags]

commands:
  serve            run the HTTP server: API, /metrics, /monitoring/ (the default)
  migrate          apply the database migrations
  account create   create an account (and its tenant if missing); prints its API key
  account update   change an account's role, transfer permission or API key
  account list     list a tenant's accounts (never a key)
  help             this text

Every command answers --help. Settings come from the environment (DATABASE_URL,
REDIS_URL, HTTP_ADDR, …; see the README); the defaults are those of make run.`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "serve", "migrate":
		fs := newFlagSet(cmd, "usage: enqueuer "+cmd+"\n\n"+map[string]string{
			"serve":   "Runs the HTTP server on HTTP_ADDR until SIGINT or SIGTERM.",
			"migrate": "Applies the embedded migrations to DATABASE_URL (safe to run concurrently).",
		}[cmd], stdout)
		if done, err := parseFlags(fs, args); done || err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("%s takes no arguments\n%s", cmd, usage)
		}
	case "account":
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := cfg.Logger()
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		return migrate(ctx, cfg, log)
	default:
		return account(ctx, cfg, args, stdout)
	}
}

// newFlagSet returns a flag set whose --help prints text and the flags to stdout.
func newFlagSet(name, text string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintln(stdout, text)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args; done says --help was answered.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return true, nil
	}
	if err != nil {
		return true, fmt.Errorf("%s: %w (see enqueuer %s --help)", fs.Name(), err, fs.Name())
	}
	return false, nil
}

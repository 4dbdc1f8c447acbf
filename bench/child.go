package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// childResult is what the worker process reports back on stdout.
type childResult struct {
	PreviewSec float64      `json:"preview_s"`
	ApplySec   float64      `json:"apply_s"`
	Forecast   store.Counts `json:"forecast"`
	Applied    store.Counts `json:"applied"`
	Status     string       `json:"status"`
}

// runChild is the worker side: `bench -child <db-url> <import-id>` previews, confirms and
// applies one import with the real engine, as a worker task would, and prints the timings
// as JSON. It runs in its own process so that its peak RSS is the worker's alone.
func runChild(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bench -child <db-url> <import-id>")
		return 2
	}
	url, id := args[0], args[1]
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer db.Close()
	e := &importer.Engine{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	var res childResult
	t0 := time.Now()
	im, err := e.Preview(ctx, id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: preview:", err)
		return 1
	}
	res.PreviewSec = time.Since(t0).Seconds()
	if im.Status != store.StatusPreviewed || im.Counts == nil {
		fmt.Fprintf(os.Stderr, "child: preview ended in status %s\n", im.Status)
		return 1
	}
	res.Forecast = *im.Counts
	if err := store.ConfirmImport(ctx, db, id, false); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	t1 := time.Now()
	if err := e.Apply(ctx, id); err != nil {
		fmt.Fprintln(os.Stderr, "child: apply:", err)
		return 1
	}
	res.ApplySec = time.Since(t1).Seconds()
	im, err = store.ImportByID(ctx, db, id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	res.Status = im.Status
	if im.Counts != nil {
		res.Applied = *im.Counts
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

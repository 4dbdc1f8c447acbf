package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// childResult is what the worker process reports back on stdout.
type childResult struct {
	PreviewSec float64 `json:"preview_s"`
	LoadSec    float64 `json:"load_s"` // preview until the last rows_read change: read + stage + COPY
	ApplySec   float64 `json:"apply_s"`
	// CPU seconds of the apply: the worker's and its PostgreSQL processes' (see cpuMeter).
	ApplyCPUSelf float64            `json:"apply_cpu_self_s"`
	ApplyCPUPG   float64            `json:"apply_cpu_pg_s"`
	Forecast     store.Counts       `json:"forecast"`
	Applied      store.Counts       `json:"applied"`
	Status       store.ImportStatus `json:"status"`
	HWMKiB       int64              `json:"vm_hwm_kib"` // this process's peak RSS
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
	// BENCH_CPUPROFILE=dir writes dir/<import-id>.pprof: where the worker's time goes.
	if dir := os.Getenv("BENCH_CPUPROFILE"); dir != "" {
		stop, err := startProfile(filepath.Join(dir, id+".pprof"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		defer stop()
	}

	var res childResult
	t0 := time.Now()
	stop, loaded := watchLoad(ctx, db, id, t0)
	im, err := e.Preview(ctx, id)
	stop()
	res.LoadSec = <-loaded
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: preview:", err)
		return 1
	}
	res.PreviewSec = time.Since(t0).Seconds()
	if im.Status != store.ImportPreviewed || im.Counts == nil {
		fmt.Fprintf(os.Stderr, "child: preview ended in status %s\n", im.Status)
		return 1
	}
	res.Forecast = *im.Counts
	if err := store.ConfirmImport(ctx, db, id, false); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	dbName := ""
	if u, err := neturl.Parse(url); err == nil {
		dbName = strings.TrimPrefix(u.Path, "/")
	}
	cpu := startCPUMeter(dbName)
	t1 := time.Now()
	if err := e.Apply(ctx, id); err != nil {
		fmt.Fprintln(os.Stderr, "child: apply:", err)
		return 1
	}
	res.ApplySec = time.Since(t1).Seconds()
	res.ApplyCPUSelf, res.ApplyCPUPG = cpu.Stop()
	im, err = store.ImportByID(ctx, db, id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	res.Status = im.Status
	if im.Counts != nil {
		res.Applied = *im.Counts
	}
	if res.HWMKiB, err = peakRSS(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// watchLoad polls the import's rows_read (the engine writes it once a second while
// loading and once more when the COPY has finished) and reports when it last changed:
// the end of the loading phase, to within the poll interval, as seconds since t0. It polls
// only ten times a second, so as not to take CPU from the preview it measures.
func watchLoad(ctx context.Context, db *sqlx.DB, id string, t0 time.Time) (stop func(), loaded <-chan float64) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan float64, 1)
	go func() {
		var last int64
		var at float64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- at
				return
			case <-tick.C:
			}
			var n int64
			if err := db.GetContext(ctx, &n, `SELECT rows_read FROM imports WHERE id = $1`, id); err == nil && n != last {
				last, at = n, time.Since(t0).Seconds()
			}
		}
	}()
	return cancel, out
}

// peakRSS reads VmHWM, the high-water mark of this process's resident set, which starts
// afresh at exec. (The rusage ru_maxrss the parent gets from wait4 does not: os/exec
// starts children with vfork, and at exec the kernel carries the parent's high-water
// mark into the child's ru_maxrss, so it reports max(parent, child).)
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// startProfile writes a CPU profile to file until stop.
func startProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

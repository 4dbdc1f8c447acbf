// Command bench measures the import engine (profile emails, email_mode=overwrite) on a
// large xlsx and csv file against the floors it cannot beat: a bare excelize Rows read, a
// bare encoding/csv read and a bare COPY + one INSERT … ON CONFLICT of the same rows (and,
// for information, the UPDATE … FROM the engine's apply is shaped like).
//
//	go run ./bench                       # 1,000,000 rows, 3 rounds, medians
//	go run ./bench -rows 20000 -rounds 1 # quick mode
//	go run ./bench -readers              # only the xlsx readers, no database
//	go run ./bench -distinct-cols        # only the worker on a workbook of 6 distinct strings a row
//	go run ./bench -release              # only the release of 200,000 meter readings
//	go run ./bench -invite               # only 100,000 invitations to an SMTP sink vs a bare go-mail loop
//	go run ./bench -meter-requests       # only meter-request runs over 100,000 contracts, each against an invitation batch
//	go run ./bench -transfer             # only the customers transfer and passwords
//
// It creates (drops first) the database portalwerk_bench; -keep leaves it behind.
// The engine runs in a child process (`bench -child <db-url> <import-id>`), so the peak
// RSS reported is the worker's, not the generator's.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/xuri/excelize/v2"

	"portalwerk/jobs/importer"
	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

const benchDB = "portalwerk_bench"

// distinctColsDB is -distinct-cols' own database, so it can run beside the import bench.
const distinctColsDB = "portalwerk_bench_distinct"

// Targets.
const (
	maxXLSXPreviewSec = 4.0
	maxApplyRatio     = 1.25
	maxCSVTotalSec    = 20.0
	maxRSSMiB         = 256.0
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(runChild(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "-child-reader" {
		os.Exit(runReaderChild(os.Args[2:]))
	}
	rows := flag.Int("rows", 1000000, "data rows in the file and customers in the account")
	admin := flag.String("db", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "admin database URL (the bench database is created next to it)")
	rounds := flag.Int("rounds", 3, "how often each floor and each import is measured (the report gives medians)")
	keep := flag.Bool("keep", false, "keep the database "+benchDB+" afterwards")
	readers := flag.Bool("readers", false, "only the xlsx readers (jobs/sheet, excelize Rows, decompression floor); no database")
	noExcelize := flag.Bool("no-excelize", false, "with -readers: leave out excelize (slow)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here (any mode); with -readers the jobs/sheet reader child writes its own to this path + \".reader\"")
	distinctCols := flag.Bool("distinct-cols", false, "only the worker's xlsx preview + apply (database "+distinctColsDB+"), on a workbook whose non-key columns are distinct in every row (6 distinct shared strings a row, 6,000,006 at -rows 1000000), against the peak RSS target; no floors, no csv")
	distinct := flag.Int("distinct", 0, "with -readers: also read a workbook of this many distinct shared strings (5 a row, e.g. 5000000) and report the reader's peak RSS")
	release := flag.Bool("release", false, "only the release of meter readings: -contracts contracts × 2 registers of entered readings")
	contracts := flag.Int("contracts", 100000, "with -release: contracts (each with 2 registers and one entered reading per register)")
	meterRequests := flag.Bool("meter-requests", false, "only meter-request runs (-rounds, a new month each): -contracts portal contracts × 2 registers, one contact each, mails to a local SMTP sink, each against an invitation batch of as many customers")
	invite := flag.Bool("invite", false, "only the invitation batch: -rows invitations (default 100,000) to an SMTP sink in process, against a bare go-mail loop")
	conns := flag.Int("conns", mailConnections(), "with -invite: the worker's parallel SMTP connections (default MAIL_CONNECTIONS, else 4)")
	transfer := flag.Bool("transfer", false, "only the customers transfer: -book customers over 10 accounts, -moved of them moved into one, and -passwords rows with passwords")
	book := flag.Int("book", 1000000, "with -transfer: customers over 10 accounts")
	moved := flag.Int("moved", 500000, "with -transfer: customers imported into one account with transfer=move, transfer_related=true (3 appointments each)")
	passwords := flag.Int("passwords", 100000, "with -transfer: rows with passwords")
	flag.Parse()
	if *cpuprofile != "" {
		stop, err := startProfile(*cpuprofile)
		if err != nil {
			fail(err)
		}
		defer stop()
	}
	if *transfer {
		if err := runTransfer(context.Background(), *admin, *book, *moved, *passwords, *keep); err != nil {
			fail(err)
		}
		return
	}
	if *meterRequests {
		if err := runMeterRequests(context.Background(), *admin, *contracts, *rounds, *keep); err != nil {
			fail(err)
		}
		return
	}
	if *invite {
		n := 100000
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "rows" {
				n = *rows
			}
		})
		if n < 1 || *conns < 1 || *rounds < 1 {
			fail(errors.New("-rows, -conns and -rounds must be at least 1"))
		}
		if err := runInvite(context.Background(), *admin, n, *conns, *rounds, *keep); err != nil {
			fail(err)
		}
		return
	}
	if *release {
		if err := runRelease(context.Background(), *admin, *contracts, *rounds, *keep); err != nil {
			fail(err)
		}
		return
	}
	if *rows < 10 {
		fail(errors.New("-rows must be at least 10"))
	}
	if *rounds < 1 {
		fail(errors.New("-rounds must be at least 1"))
	}
	if *readers {
		profile := ""
		if *cpuprofile != "" {
			profile = *cpuprofile + ".reader"
		}
		if err := runReaders(*rows, *rounds, !*noExcelize, *distinct, profile); err != nil {
			pprof.StopCPUProfile()
			fail(err)
		}
		return
	}
	if *distinctCols {
		if err := runDistinctCols(context.Background(), *rows, *rounds, *admin, *keep); err != nil {
			fail(err)
		}
		return
	}
	if err := run(context.Background(), *rows, *rounds, *admin, *keep); err != nil {
		fail(err)
	}
}

// mailConnections is MAIL_CONNECTIONS, else the worker's default of 4.
func mailConnections() int {
	if n, err := strconv.Atoi(os.Getenv("MAIL_CONNECTIONS")); err == nil && n > 0 {
		return n
	}
	return 4
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// progress notes go to stderr; the report goes to stdout.
func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
}

type engineRun struct {
	childResult
	wall   float64 // child process wall time, start-up included
	rssKiB int64   // the child's VmHWM
	maxrss int64   // the child's rusage ru_maxrss: max(parent, child), see peakRSS
	cpuSec float64
}

func run(ctx context.Context, n, rounds int, adminURL string, keep bool) error {
	loadBefore := loadAvg()
	b, drop, err := openImportBench(ctx, adminURL, benchDB, n, keep)
	if err != nil {
		return err
	}
	defer drop()
	db, acc := b.db, b.acc
	var pgVersion string
	if err := db.GetContext(ctx, &pgVersion, `SHOW server_version`); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "portalwerk-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	xlsxPath, csvPath := filepath.Join(dir, "nutzer.xlsx"), filepath.Join(dir, "nutzer.csv")
	t := time.Now()
	unique, err := writeXLSX(xlsxPath, n)
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if err := writeCSV(csvPath, n); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	note("wrote files in %.1fs", time.Since(t).Seconds())

	// Once, for information: the engine's own reader without staging.
	runtime.GC()
	m := measured{engine: map[string][]engineRun{}}
	if m.sheetXLSX, err = sheetRead(xlsxPath, n); err != nil {
		return fmt.Errorf("jobs/sheet xlsx read: %w", err)
	}
	if m.sheetCSV, err = sheetRead(csvPath, n); err != nil {
		return fmt.Errorf("jobs/sheet csv read: %w", err)
	}
	note("jobs/sheet reads: xlsx %.2fs, csv %.2fs", m.sheetXLSX, m.sheetCSV)

	// Each round measures every floor and the engine once, interleaved, so that a busy
	// spell of the machine shows in both sides of a ratio; the report takes medians.
	for round := 1; round <= rounds; round++ {
		// The xlsx readers: decompression floor, jobs/sheet, excelize Rows.
		if err := measureReaders(xlsxPath, n, &m.readers, true, ""); err != nil {
			return err
		}
		m.xlsxRead = m.readers.excelize
		for _, format := range []string{"xlsx", "csv"} {
			path := map[string]string{"xlsx": xlsxPath, "csv": csvPath}[format]
			if format == "csv" {
				c, err := bareCSV(csvPath, n)
				if err != nil {
					return fmt.Errorf("bare csv read: %w", err)
				}
				m.csvRead = append(m.csvRead, c)
				note("round %d: bare csv read %.2fs", round, c)
			}
			r, err := b.round(ctx, path, n)
			if err != nil {
				return fmt.Errorf("%s import: %w", format, err)
			}
			note("round %d: %s: preview %.2fs, apply %.2fs, peak RSS %.0f MiB", round, format, r.PreviewSec, r.ApplySec, float64(r.rssKiB)/1024)
			m.engine[format] = append(m.engine[format], r)
		}
		for _, fl := range []struct {
			stmt string
			args []any
			dst  *[]float64
		}{{upsertFloor, []any{acc.ID, acc.TenantID}, &m.upsert}, {updateFloor, []any{acc.ID}, &m.update}} {
			if err := resetEmails(ctx, db, acc); err != nil {
				return err
			}
			c, d, err := floorApply(ctx, db, acc, n, fl.stmt, fl.args...)
			if err != nil {
				return fmt.Errorf("floor: %w", err)
			}
			m.copy = append(m.copy, c)
			*fl.dst = append(*fl.dst, d)
		}
		note("round %d: bare COPY %.2fs, bare INSERT … ON CONFLICT %.2fs, bare UPDATE … FROM %.2fs", round,
			m.copy[len(m.copy)-1], m.upsert[round-1], m.update[round-1])
	}

	fileSize := func(p string) string {
		st, err := os.Stat(p)
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.1f MB", float64(st.Size())/1e6)
	}
	report(n, pgVersion, loadBefore, fileSize(xlsxPath), fileSize(csvPath), unique, m)
	return nil
}

// importBench is a bench database with the account its customers are seeded into.
type importBench struct {
	db  *sqlx.DB
	url string
	acc store.Account
}

// openImportBench creates the database name (see benchDatabase) and seeds n customers
// into its bench account; drop closes and, unless keep, drops it.
func openImportBench(ctx context.Context, adminURL, name string, n int, keep bool) (importBench, func(), error) {
	db, url, drop, err := benchDatabase(ctx, adminURL, name, keep)
	if err != nil {
		return importBench{}, nil, err
	}
	acc, err := benchAccount(ctx, db)
	if err != nil {
		drop()
		return importBench{}, nil, err
	}
	t := time.Now()
	if err := seed(ctx, db, acc, n); err != nil {
		drop()
		return importBench{}, nil, err
	}
	note("seeded %d customers in %.1fs", n, time.Since(t).Seconds())
	return importBench{db: db, url: url, acc: acc}, drop, nil
}

// round resets the e-mails, imports the file of n rows in the worker child and checks
// that every row was updated.
func (b importBench) round(ctx context.Context, path string, n int) (engineRun, error) {
	if err := resetEmails(ctx, b.db, b.acc); err != nil {
		return engineRun{}, err
	}
	id, err := createImport(ctx, b.db, b.acc, path)
	if err != nil {
		return engineRun{}, fmt.Errorf("create import: %w", err)
	}
	r, err := runEngine(b.url, id)
	if err != nil {
		return r, err
	}
	return r, checkApplied(ctx, b.db, b.acc, n, r)
}

// runDistinctCols is the -distinct-cols mode: the worker's preview + apply of the emails
// import, in its child process as run measures it, on distinctUsersBook, whose shared
// strings are all distinct (issue 13: the worker's peak RSS ≤ 256 MB also at 5,000,000
// distinct strings). The jobs/sheet reader alone on such a book is -readers -distinct.
func runDistinctCols(ctx context.Context, n, rounds int, adminURL string, keep bool) error {
	loadBefore := loadAvg()
	b, drop, err := openImportBench(ctx, adminURL, distinctColsDB, n, keep)
	if err != nil {
		return err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "portalwerk-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "nutzer.xlsx")
	t := time.Now()
	unique, err := writeBook(path, distinctUsersBook(n))
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	note("wrote %s (%d distinct shared strings) in %.1fs", path, unique, time.Since(t).Seconds())
	var runs []engineRun
	for round := 1; round <= rounds; round++ {
		r, err := b.round(ctx, path, n)
		if err != nil {
			return fmt.Errorf("xlsx import: %w", err)
		}
		note("round %d: preview %.2fs, apply %.2fs, peak RSS %.0f MiB", round, r.PreviewSec, r.ApplySec, float64(r.rssKiB)/1024)
		runs = append(runs, r)
	}
	e := medians(runs)
	rss := float64(e.rssKiB) / 1024
	fmt.Printf("portalwerk import bench, distinct columns: %d rows, profile emails, email_mode=overwrite, %d rounds, %d CPUs, %s, load average %s at start, %s at end\n",
		n, rounds, runtime.NumCPU(), runtime.Version(), loadBefore, loadAvg())
	fmt.Printf("file: xlsx %.1f MB, 6 cols, %d distinct shared strings (every cell its own)\n", float64(st.Size())/1e6, unique)
	fmt.Printf("worker child process: preview %.2f s [%s], apply %.2f s [%s], CPU %.2f s (medians)\n",
		e.preview, list(e.previews), e.apply, list(e.applies), e.cpu)
	fmt.Printf("  %s  worker peak RSS ≤ %.0f MiB (xlsx, %d distinct strings)  %.1f MiB (VmHWM, highest round)\n",
		passFail(rss <= maxRSSMiB), maxRSSMiB, unique, rss)
	return nil
}

// measured holds every timing of the run, in seconds, one entry per round.
type measured struct {
	engine              map[string][]engineRun // by format
	xlsxRead, csvRead   []float64              // bare excelize Rows / encoding/csv read of the local file
	readers             readerRuns             // the xlsx readers of each round
	copy                []float64              // bare COPY into a temp table (two per round)
	upsert, update      []float64              // bare INSERT … ON CONFLICT / UPDATE … FROM the temp table + commit
	sheetXLSX, sheetCSV float64                // jobs/sheet reader of the local file (information, once)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// engineMedians are the medians over the rounds of one format; RSS is the maximum.
type engineMedians struct {
	preview, load, apply, cpu float64
	rssKiB                    int64
	previews, applies         []float64
}

func medians(runs []engineRun) engineMedians {
	var e engineMedians
	var load, cpu []float64
	for _, r := range runs {
		e.previews = append(e.previews, r.PreviewSec)
		e.applies = append(e.applies, r.ApplySec)
		load = append(load, r.LoadSec)
		cpu = append(cpu, r.cpuSec)
		e.rssKiB = max(e.rssKiB, r.rssKiB)
	}
	e.preview, e.apply, e.load, e.cpu = median(e.previews), median(e.applies), median(load), median(cpu)
	return e
}

func list(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

// report prints the compact table and the targets, all on medians over the rounds.
//
// Peak RSS is the child's VmHWM (the highest of the rounds). The rusage Maxrss that
// ProcessState gives is not the worker's: os/exec starts children with vfork, and at exec
// the kernel carries the parent's (the generator's) high-water mark into the child's
// ru_maxrss. The preview's split comes from polling imports.rows_read (see watchLoad).
func report(n int, pgVersion, loadBefore, xlsxSize, csvSize string, unique int, m measured) {
	x, c := medians(m.engine["xlsx"]), medians(m.engine["csv"])
	rounds := len(m.xlsxRead)
	fmt.Printf("portalwerk import bench: %d rows, profile emails, email_mode=overwrite (every row an update), %d rounds, medians\n", n, rounds)
	fmt.Printf("PostgreSQL %s, %d CPUs, %s, load average %s at start, %s at end\n", pgVersion, runtime.NumCPU(), runtime.Version(), loadBefore, loadAvg())
	fmt.Printf("files: xlsx %s (6 cols, %d shared strings), csv %s (UTF-8 BOM, ';')\n", xlsxSize, unique, csvSize)
	fmt.Printf("engine, worker child process       xlsx        csv\n")
	row := func(label, format string, a, b float64) {
		fmt.Printf("  %-30s %8s %10s\n", label, fmt.Sprintf(format, a), fmt.Sprintf(format, b))
	}
	row("preview s", "%.2f", x.preview, c.preview)
	row("  read+stage+COPY s", "%.2f", x.load, c.load)
	row("apply s", "%.2f", x.apply, c.apply)
	row("preview + apply s", "%.2f", x.preview+x.apply, c.preview+c.apply)
	row("preview rows/s", "%.0f", float64(n)/x.preview, float64(n)/c.preview)
	row("apply rows/s", "%.0f", float64(n)/x.apply, float64(n)/c.apply)
	row("peak RSS MiB (VmHWM, max)", "%.1f", float64(x.rssKiB)/1024, float64(c.rssKiB)/1024)
	row("CPU s (user+sys)", "%.2f", x.cpu, c.cpu)
	fmt.Printf("  every round: xlsx preview %s, apply %s; csv preview %s, apply %s\n", list(x.previews), list(x.applies), list(c.previews), list(c.applies))
	fmt.Printf("floors (local files): bare excelize Rows read %.2f s [%s], bare encoding/csv read %.2f s [%s]\n",
		median(m.xlsxRead), list(m.xlsxRead), median(m.csvRead), list(m.csvRead))
	fmt.Printf("  bare COPY into a temp table %.2f s; then one statement + commit:\n", median(m.copy))
	fmt.Printf("  INSERT … ON CONFLICT DO UPDATE %.2f s [%s]; UPDATE … FROM %.2f s [%s]\n",
		median(m.upsert), list(m.upsert), median(m.update), list(m.update))
	fmt.Printf("  (info: jobs/sheet reader alone, local file: xlsx %.2f s, csv %.2f s)\n", m.sheetXLSX, m.sheetCSV)
	xr := x.preview / median(m.xlsxRead)
	ax, ac := x.apply/median(m.upsert), c.apply/median(m.upsert)
	fmt.Printf("ratios: xlsx preview / bare excelize read %.2f (read+stage+COPY alone %.2f); every round:", xr, x.load/median(m.xlsxRead))
	for i, r := range m.engine["xlsx"] {
		fmt.Printf(" %.2f", r.PreviewSec/m.xlsxRead[i])
	}
	fmt.Printf("\n  apply / bare upsert statement %.2f (xlsx import), %.2f (csv import); apply / bare UPDATE … FROM %.2f, %.2f\n",
		ax, ac, x.apply/median(m.update), c.apply/median(m.update))
	target := func(limit, got float64, what, unit string) {
		verdict, over := "PASS", ""
		if got > limit {
			verdict, over = "FAIL", fmt.Sprintf("  (%.0f%% over)", (got/limit-1)*100)
		}
		fmt.Printf("  %s  %-50s %.2f%s%s\n", verdict, what, got, unit, over)
	}
	reportReaders(m.readers)
	fmt.Println("targets (medians)")
	target(maxXLSXPreviewSec, x.preview, "xlsx preview (upload done → previewed) ≤ 4 s", " s")
	target(maxApplyRatio, ax, "apply ≤ 1.25 × bare upsert statement (xlsx import)", " ×")
	target(maxApplyRatio, ac, "apply ≤ 1.25 × bare upsert statement (csv import)", " ×")
	target(maxCSVTotalSec, c.preview+c.apply, "csv preview + apply ≤ 20 s", " s")
	target(maxRSSMiB, float64(x.rssKiB)/1024, "worker peak RSS ≤ 256 MiB (xlsx)", " MiB")
	target(maxRSSMiB, float64(c.rssKiB)/1024, "worker peak RSS ≤ 256 MiB (csv)", " MiB")
	fmt.Println("note: preview fetches the upload from PostgreSQL (1 MiB chunks; xlsx spooled to a temp file); the bare")
	fmt.Println("  reads read the local file. The apply ratio compares with the upsert statement alone, without its COPY.")
	fmt.Println("  Every apply and floor statement starts from the same table: e-mails reset, VACUUM FULL, CHECKPOINT.")
}

// benchDatabase creates (drops first) the database name next to adminURL, migrates it
// and opens it, and returns it with its URL; drop closes it and, unless keep, drops it.
func benchDatabase(ctx context.Context, adminURL, name string, keep bool) (*sqlx.DB, string, func(), error) {
	benchURL, err := createDatabase(ctx, adminURL, name)
	if err != nil {
		return nil, "", nil, err
	}
	db, err := store.Open(ctx, benchURL)
	if err == nil {
		err = store.Migrate(ctx, db)
	}
	drop := func() {
		if db != nil {
			db.Close()
		}
		if !keep {
			dropDatabase(adminURL, name)
		}
	}
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	return db, benchURL, drop, nil
}

// benchAccount is the admin account "huber" of the tenant "bench".
func benchAccount(ctx context.Context, db *sqlx.DB) (store.Account, error) {
	_, hash := store.NewAPIKey()
	return store.CreateAccount(ctx, db, "bench", "huber", store.RoleAdmin, false, hash)
}

// createDatabase drops and creates the bench database and returns its URL.
func createDatabase(ctx context.Context, adminURL, name string) (string, error) {
	admin, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", fmt.Errorf("drop %s: %w", name, err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("parse -db: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(adminURL, name string) {
	admin, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		return
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
		note("drop %s: %v", name, err)
	}
}

// seed COPYs n customers into the account; every second one has an address already.
func seed(ctx context.Context, db *sqlx.DB, acc store.Account, n int) error {
	err := store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `COPY customers (tenant_id, account_id, external_id,
			first_name, last_name, street, zip, city, email) FROM STDIN`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := 1; i <= n; i++ {
			first, last, _ := strings.Cut(name(i), " ")
			if _, err := stmt.ExecContext(ctx, acc.TenantID, acc.ID, key(i), first, last, street(i), zip5(i), city(i), seedEmail(i)); err != nil {
				return err
			}
		}
		_, err = stmt.ExecContext(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	_, err = db.ExecContext(ctx, `VACUUM (ANALYZE) customers`)
	return err
}

// resetEmails restores the seeded addresses (see seedEmail: the key's parity is i's),
// rewrites the table and its indexes (VACUUM FULL) and checkpoints, so every measured
// UPDATE starts from the same physical layout: after a plain VACUUM the free space left
// by earlier runs would let later runs do more HOT updates than earlier ones.
func resetEmails(ctx context.Context, db *sqlx.DB, acc store.Account) error {
	_, err := db.ExecContext(ctx, `UPDATE customers SET email = CASE WHEN right(external_id, 1) IN ('0', '2', '4', '6', '8')
		THEN 'alt.' || external_id || '@example.org' END WHERE account_id = $1`, acc.ID)
	if err != nil {
		return fmt.Errorf("reset e-mails: %w", err)
	}
	for _, q := range []string{`VACUUM (FULL, ANALYZE) customers`, `CHECKPOINT`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// createImport stores the file as the enqueuer does and records a queued import of
// profile emails with email_mode=overwrite.
func createImport(ctx context.Context, db *sqlx.DB, acc store.Account, path string) (string, error) {
	return createProfileImport(ctx, db, acc, path, importer.ProfileEmails, map[string]string{"email_mode": "overwrite"})
}

// createProfileImport stores the file as the enqueuer does and records a queued import.
func createProfileImport(ctx context.Context, db *sqlx.DB, acc store.Account, path, profile string, given map[string]string) (string, error) {
	opts, err := importer.Options(profile, given)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	importID, uploadID, filename := store.NewID(), store.NewID(), filepath.Base(path)
	err = store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := store.SaveUpload(ctx, tx, uploadID, acc.TenantID, filename, bufio.NewReaderSize(f, 1<<20), 1<<40); err != nil {
			return err
		}
		return store.CreateImport(ctx, tx, store.NewImport{ID: importID, TenantID: acc.TenantID, AccountID: acc.ID,
			CreatedBy: acc.ID, UploadID: uploadID, Profile: profile, Filename: filename, Options: opts})
	})
	if err != nil {
		return "", err
	}
	_, err = db.ExecContext(ctx, `CHECKPOINT`)
	return importID, err
}

// runEngine runs preview + confirm + apply in a child process and reads its peak RSS.
func runEngine(dbURL, id string) (engineRun, error) {
	exe, err := os.Executable()
	if err != nil {
		return engineRun{}, err
	}
	var out bytes.Buffer
	cmd := exec.Command(exe, "-child", dbURL, id)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return engineRun{}, fmt.Errorf("worker child: %w", err)
	}
	r := engineRun{wall: time.Since(t).Seconds()}
	if err := json.Unmarshal(out.Bytes(), &r.childResult); err != nil {
		return r, fmt.Errorf("worker child output %q: %w", out.String(), err)
	}
	r.rssKiB = r.HWMKiB
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxrss = ru.Maxrss // KiB on Linux
		r.cpuSec = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)).Seconds()
	}
	return r, nil
}

// checkApplied makes sure the engine did what the benchmark assumes: every row an update.
func checkApplied(ctx context.Context, db *sqlx.DB, acc store.Account, n int, r engineRun) error {
	f, a := r.Forecast, r.Applied
	if r.Status != store.ImportDone || f.Rows != int64(n) || f.Update != int64(n) || f.Errors != 0 || a.Update != int64(n) {
		return fmt.Errorf("unexpected result: status %s, forecast %+v, applied %+v", r.Status, f, a)
	}
	var got int
	if err := db.GetContext(ctx, &got, `SELECT count(*) FROM customers WHERE account_id = $1 AND email LIKE 'neu.%'`, acc.ID); err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("%d customers have the new address, want %d", got, n)
	}
	return nil
}

// sampled says whether data row i is compared with the generator while reading.
func sampled(i, n int) bool { return i == 1 || i == n/2 || i == n }

// bareXLSX reads the sheet with excelize's Rows and nothing else, opened with the limits
// jobs/sheet uses (defaultXLSXLimits), and checks the row count and a few rows.
func bareXLSX(path string, n int) (float64, error) {
	t := time.Now()
	f, err := excelize.OpenFile(path, excelize.Options{UnzipSizeLimit: 4 << 30, UnzipXMLSizeLimit: 8 << 20})
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rows, err := f.Rows(f.GetSheetList()[0])
	if err != nil {
		return 0, err
	}
	count := 0
	for rows.Next() {
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return 0, err
		}
		if i := count; i > 0 && sampled(i, n) && !slices.Equal(cols, record(i)) {
			return 0, fmt.Errorf("row %d reads %q, want %q", i+1, cols, record(i))
		}
		if count == 0 && !slices.Equal(cols, header) {
			return 0, fmt.Errorf("header reads %q", cols)
		}
		count++
	}
	if err := rows.Error(); err != nil {
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	d := time.Since(t).Seconds()
	if count != n+1 {
		return 0, fmt.Errorf("read %d rows, want %d", count, n+1)
	}
	return d, nil
}

// bareCSV reads the csv with encoding/csv as jobs/sheet configures it (64 KiB buffer,
// ReuseRecord), without the encoding check or row building.
func bareCSV(path string, n int) (float64, error) {
	t := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	if bom, _ := br.Peek(3); string(bom) == "\uFEFF" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = ';'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	count := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if i := count; i > 0 && sampled(i, n) && !slices.Equal(rec, record(i)) {
			return 0, fmt.Errorf("line %d reads %q, want %q", i+1, rec, record(i))
		}
		count++
	}
	d := time.Since(t).Seconds()
	if count != n+1 {
		return 0, fmt.Errorf("read %d records, want %d", count, n+1)
	}
	return d, nil
}

// sheetRead reads the local file with the engine's own reader (jobs/sheet, default
// options), rows only: the share of the preview that is the sheet layer's.
func sheetRead(path string, n int) (float64, error) {
	t := time.Now()
	var rd sheet.Reader
	var err error
	if strings.HasSuffix(path, ".csv") {
		f, ferr := os.Open(path)
		if ferr != nil {
			return 0, ferr
		}
		defer f.Close()
		rd, err = sheet.OpenCSV(f, sheet.Options{})
	} else {
		rd, err = sheet.OpenXLSX(path, sheet.Options{})
	}
	if err != nil {
		return 0, err
	}
	count := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			rd.Close()
			return 0, err
		}
		count++
	}
	if err := rd.Close(); err != nil {
		return 0, err
	}
	d := time.Since(t).Seconds()
	if count != n+1 {
		return 0, fmt.Errorf("read %d rows, want %d", count, n+1)
	}
	return d, nil
}

// The floors' statements: the bare upsert the issue names, and the statement shape the
// engine's apply uses, without its extra conditions. $1 is the account, $2 its tenant
// (upsert only).
const (
	upsertFloor = `INSERT INTO customers (tenant_id, account_id, external_id, email)
		SELECT $2, $1, s.external_id, s.email FROM bench_floor s
		ON CONFLICT (account_id, external_id) WHERE deleted_at IS NULL AND external_id IS NOT NULL
		DO UPDATE SET email = EXCLUDED.email, updated_at = now()`
	updateFloor = `UPDATE customers c SET email = s.email, updated_at = now()
		FROM bench_floor s WHERE c.account_id = $1 AND c.deleted_at IS NULL AND c.external_id = s.external_id`
)

// floorApply COPYs the rows (the staging table's columns) into a temp table the way the
// engine COPYs (one Exec per row) and applies them with one statement. Both timed; the
// statement's time includes the commit.
func floorApply(ctx context.Context, db *sqlx.DB, acc store.Account, n int, statement string, args ...any) (copySec, stmtSec float64, err error) {
	keys, emails := make([]string, n), make([]string, n)
	for i := range n {
		keys[i], emails[i] = key(i+1), newEmail(i+1)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE bench_floor (row_num integer NOT NULL, external_id text, email text, errs jsonb) ON COMMIT DROP`); err != nil {
		return 0, 0, err
	}
	t := time.Now()
	stmt, err := tx.PrepareContext(ctx, `COPY bench_floor (row_num, external_id, email, errs) FROM STDIN`)
	if err != nil {
		return 0, 0, err
	}
	for i := range n {
		if _, err := stmt.ExecContext(ctx, i+2, keys[i], emails[i], nil); err != nil {
			return 0, 0, err
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return 0, 0, err
	}
	stmt.Close()
	copySec = time.Since(t).Seconds()
	if _, err := tx.ExecContext(ctx, `ANALYZE bench_floor`); err != nil {
		return 0, 0, err
	}
	t = time.Now()
	res, err := tx.ExecContext(ctx, statement, args...)
	if err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	stmtSec = time.Since(t).Seconds()
	if k, _ := res.RowsAffected(); k != int64(n) {
		return 0, 0, fmt.Errorf("floor statement changed %d rows, want %d", k, n)
	}
	var renewed, total int
	if err := db.QueryRowxContext(ctx, `SELECT count(*) FILTER (WHERE email LIKE 'neu.%'), count(*) FROM customers WHERE account_id = $1`,
		acc.ID).Scan(&renewed, &total); err != nil {
		return 0, 0, err
	}
	if renewed != n || total != n {
		return 0, 0, fmt.Errorf("after the floor statement %d of %d customers have the new address, want %d of %d", renewed, total, n, n)
	}
	return copySec, stmtSec, nil
}

// loadAvg is the 1-minute load average: other work on the machine skews the timings.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Command bench measures the import engine (profile emails, email_mode=overwrite) on a
// large xlsx and csv file against the floors it cannot beat: a bare excelize Rows read, a
// bare encoding/csv read and a bare COPY + UPDATE … FROM of the same rows.
//
//	go run ./bench              # 1,000,000 rows
//	go run ./bench -rows 20000  # quick mode
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/xuri/excelize/v2"

	"portalwerk/jobs/importer"
	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

const benchDB = "portalwerk_bench"

// Targets.
const (
	maxXLSXPreviewRatio = 1.15
	maxApplyRatio       = 1.25
	maxCSVTotalSec      = 20.0
	maxRSSMiB           = 256.0
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(runChild(os.Args[2:]))
	}
	rows := flag.Int("rows", 1000000, "data rows in the file and customers in the account")
	admin := flag.String("db", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "admin database URL (the bench database is created next to it)")
	keep := flag.Bool("keep", false, "keep the database "+benchDB+" afterwards")
	flag.Parse()
	if *rows < 10 {
		fail(errors.New("-rows must be at least 10"))
	}
	if err := run(context.Background(), *rows, *admin, *keep); err != nil {
		fail(err)
	}
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

func run(ctx context.Context, n int, adminURL string, keep bool) error {
	loadBefore := loadAvg()
	benchURL, err := createDatabase(ctx, adminURL)
	if err != nil {
		return err
	}
	if !keep {
		defer dropDatabase(adminURL)
	}
	db, err := store.Open(ctx, benchURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := store.Migrate(ctx, db); err != nil {
		return err
	}
	_, hash := store.NewAPIKey()
	acc, err := store.CreateAccount(ctx, db, "bench", "huber", store.RoleAdmin, false, hash)
	if err != nil {
		return err
	}
	var pgVersion string
	if err := db.GetContext(ctx, &pgVersion, `SHOW server_version`); err != nil {
		return err
	}

	t := time.Now()
	if err := seed(ctx, db, acc, n); err != nil {
		return err
	}
	note("seeded %d customers in %.1fs", n, time.Since(t).Seconds())

	dir, err := os.MkdirTemp("", "portalwerk-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	xlsxPath, csvPath := filepath.Join(dir, "nutzer.xlsx"), filepath.Join(dir, "nutzer.csv")
	t = time.Now()
	unique, err := writeXLSX(xlsxPath, n)
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if err := writeCSV(csvPath, n); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	note("wrote files in %.1fs", time.Since(t).Seconds())

	// Floors.
	runtime.GC()
	xlsxFloor, err := bareXLSX(xlsxPath, n)
	if err != nil {
		return fmt.Errorf("bare excelize read: %w", err)
	}
	note("bare excelize read %.2fs", xlsxFloor)
	csvFloor, err := bareCSV(csvPath, n)
	if err != nil {
		return fmt.Errorf("bare csv read: %w", err)
	}
	note("bare csv read %.2fs", csvFloor)
	runtime.GC()
	xlsxSheet, err := sheetRead(xlsxPath, n)
	if err != nil {
		return fmt.Errorf("jobs/sheet xlsx read: %w", err)
	}
	csvSheet, err := sheetRead(csvPath, n)
	if err != nil {
		return fmt.Errorf("jobs/sheet csv read: %w", err)
	}
	note("jobs/sheet reads: xlsx %.2fs, csv %.2fs", xlsxSheet, csvSheet)
	if err := resetEmails(ctx, db, acc); err != nil {
		return err
	}
	copyFloor, updateFloor, err := floorUpsert(ctx, db, acc, n)
	if err != nil {
		return fmt.Errorf("floor upsert: %w", err)
	}
	note("bare COPY %.2fs, bare UPDATE … FROM %.2fs", copyFloor, updateFloor)

	// The engine, each format on a fresh import with the e-mails reset.
	runs := map[string]engineRun{}
	for _, format := range []string{"xlsx", "csv"} {
		path := map[string]string{"xlsx": xlsxPath, "csv": csvPath}[format]
		if err := resetEmails(ctx, db, acc); err != nil {
			return err
		}
		id, err := createImport(ctx, db, acc, path)
		if err != nil {
			return fmt.Errorf("create %s import: %w", format, err)
		}
		r, err := runEngine(benchURL, id)
		if err != nil {
			return fmt.Errorf("%s import: %w", format, err)
		}
		if err := checkApplied(ctx, db, acc, n, r); err != nil {
			return fmt.Errorf("%s import: %w", format, err)
		}
		note("%s: preview %.2fs, apply %.2fs, peak RSS %.0f MiB", format, r.PreviewSec, r.ApplySec, float64(r.rssKiB)/1024)
		runs[format] = r
	}

	fileSize := func(p string) string {
		st, err := os.Stat(p)
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.1f MB", float64(st.Size())/1e6)
	}
	report(n, pgVersion, loadBefore, fileSize(xlsxPath), fileSize(csvPath), unique, runs["xlsx"], runs["csv"], floors{
		xlsx: xlsxFloor, csv: csvFloor, sheetXLSX: xlsxSheet, sheetCSV: csvSheet, copy: copyFloor, update: updateFloor})
	return nil
}

// floors are the bare timings the engine is compared with, in seconds.
type floors struct {
	xlsx, csv           float64 // bare excelize Rows / encoding/csv read of the local file
	sheetXLSX, sheetCSV float64 // jobs/sheet reader of the local file (information)
	copy, update        float64 // bare COPY into a temp table; UPDATE … FROM it + commit
}

// report prints the compact table and the targets.
//
// Peak RSS is the child's VmHWM. The rusage Maxrss that ProcessState gives is shown too
// but is not the worker's: os/exec starts children with vfork, and at exec the kernel
// carries the parent's (the generator's) high-water mark into the child's ru_maxrss.
// The preview's split comes from polling imports.rows_read (see watchLoad).
func report(n int, pgVersion, loadBefore, xlsxSize, csvSize string, unique int, x, c engineRun, f floors) {
	fmt.Printf("portalwerk import bench: %d rows, profile emails, email_mode=overwrite (every row an update)\n", n)
	fmt.Printf("PostgreSQL %s, %d CPUs, %s, load average %s at start, %s at end\n", pgVersion, runtime.NumCPU(), runtime.Version(), loadBefore, loadAvg())
	fmt.Printf("files: xlsx %s (6 cols, %d shared strings), csv %s (UTF-8 BOM, ';')\n", xlsxSize, unique, csvSize)
	fmt.Printf("engine, worker child process       xlsx        csv\n")
	row := func(label, format string, a, b float64) {
		fmt.Printf("  %-30s %8s %10s\n", label, fmt.Sprintf(format, a), fmt.Sprintf(format, b))
	}
	row("preview s", "%.2f", x.PreviewSec, c.PreviewSec)
	row("  read+stage+COPY s", "%.2f", x.LoadSec, c.LoadSec)
	row("  forecast etc. s", "%.2f", x.PreviewSec-x.LoadSec, c.PreviewSec-c.LoadSec)
	row("apply s", "%.2f", x.ApplySec, c.ApplySec)
	row("preview + apply s", "%.2f", x.PreviewSec+x.ApplySec, c.PreviewSec+c.ApplySec)
	row("preview rows/s", "%.0f", float64(n)/x.PreviewSec, float64(n)/c.PreviewSec)
	row("apply rows/s", "%.0f", float64(n)/x.ApplySec, float64(n)/c.ApplySec)
	row("peak RSS MiB (VmHWM)", "%.1f", float64(x.rssKiB)/1024, float64(c.rssKiB)/1024)
	row("(rusage maxrss MiB, parent's)", "%.1f", float64(x.maxrss)/1024, float64(c.maxrss)/1024)
	row("CPU s (user+sys)", "%.2f", x.cpuSec, c.cpuSec)
	fmt.Printf("floors, local files, one run each: bare excelize Rows read %.2f s, bare encoding/csv read %.2f s,\n", f.xlsx, f.csv)
	fmt.Printf("  bare COPY into temp table %.2f s, bare UPDATE customers … FROM temp table + commit %.2f s\n", f.copy, f.update)
	fmt.Printf("  (info: jobs/sheet reader alone, local file: xlsx %.2f s, csv %.2f s)\n", f.sheetXLSX, f.sheetCSV)
	xr, cr := x.PreviewSec/f.xlsx, c.PreviewSec/f.csv
	ax, ac := x.ApplySec/f.update, c.ApplySec/f.update
	fmt.Printf("ratios: xlsx preview / bare excelize read %.2f (read+stage+COPY alone %.2f); csv preview / bare csv read %.2f;\n", xr, x.LoadSec/f.xlsx, cr)
	fmt.Printf("  apply / bare UPDATE %.2f (xlsx import), %.2f (csv import)\n", ax, ac)
	target := func(limit, got float64, what, unit string) {
		verdict, over := "PASS", ""
		if got > limit {
			verdict, over = "FAIL", fmt.Sprintf("  (%.0f%% over)", (got/limit-1)*100)
		}
		fmt.Printf("  %s  %-44s %.2f%s%s\n", verdict, what, got, unit, over)
	}
	fmt.Println("targets")
	target(maxXLSXPreviewRatio, xr, "xlsx preview ≤ 1.15 × bare excelize read", " ×")
	target(maxApplyRatio, ax, "apply ≤ 1.25 × bare UPDATE (xlsx import)", " ×")
	target(maxApplyRatio, ac, "apply ≤ 1.25 × bare UPDATE (csv import)", " ×")
	target(maxCSVTotalSec, c.PreviewSec+c.ApplySec, "csv preview + apply ≤ 20 s", " s")
	target(maxRSSMiB, float64(x.rssKiB)/1024, "worker peak RSS ≤ 256 MiB (xlsx)", " MiB")
	target(maxRSSMiB, float64(c.rssKiB)/1024, "worker peak RSS ≤ 256 MiB (csv)", " MiB")
	fmt.Println("note: preview fetches the upload from PostgreSQL (1 MiB chunks; xlsx spooled to a temp file); the bare")
	fmt.Println("  read floors read the local file. apply and floor both use UPDATE customers … FROM <staged rows>,")
	fmt.Println("  each after the e-mails were reset and customers rewritten by VACUUM FULL.")
}

// createDatabase drops and creates the bench database and returns its URL.
func createDatabase(ctx context.Context, adminURL string) (string, error) {
	admin, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+benchDB+` WITH (FORCE)`); err != nil {
		return "", fmt.Errorf("drop %s: %w", benchDB, err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+benchDB); err != nil {
		return "", fmt.Errorf("create %s: %w", benchDB, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("parse -db: %w", err)
	}
	u.Path = "/" + benchDB
	return u.String(), nil
}

func dropDatabase(adminURL string) {
	admin, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		return
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + benchDB + ` WITH (FORCE)`); err != nil {
		note("drop %s: %v", benchDB, err)
	}
}

// seed COPYs n customers into the account; every second one has an address already.
func seed(ctx context.Context, db *sqlx.DB, acc store.Account, n int) error {
	err := store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		stmt, err := tx.PrepareContext(ctx, pq.CopyIn("customers", "tenant_id", "account_id", "external_id",
			"first_name", "last_name", "street", "zip", "city", "email"))
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

// createImport stores the file as the enqueuer does and records a queued import.
func createImport(ctx context.Context, db *sqlx.DB, acc store.Account, path string) (string, error) {
	opts, err := importer.Options(importer.ProfileEmails, map[string]string{"email_mode": "overwrite"})
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
			CreatedBy: acc.ID, UploadID: uploadID, Profile: importer.ProfileEmails, Filename: filename, Options: opts})
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
	if r.Status != store.StatusDone || f.Rows != int64(n) || f.Update != int64(n) || f.Errors != 0 || a.Update != int64(n) {
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

// floorUpsert COPYs the rows (the staging table's columns) into a temp table the way the
// engine COPYs (lib/pq CopyIn, one Exec per row) and applies them with the engine's
// statement shape, UPDATE customers … FROM, without its extra conditions. Both timed.
func floorUpsert(ctx context.Context, db *sqlx.DB, acc store.Account, n int) (copySec, updateSec float64, err error) {
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
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("bench_floor", "row_num", "external_id", "email", "errs"))
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
	res, err := tx.ExecContext(ctx, `UPDATE customers c SET email = s.email, updated_at = now()
		FROM bench_floor s WHERE c.account_id = $1 AND c.deleted_at IS NULL AND c.external_id = s.external_id`, acc.ID)
	if err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	updateSec = time.Since(t).Seconds()
	if k, _ := res.RowsAffected(); k != int64(n) {
		return 0, 0, fmt.Errorf("floor UPDATE changed %d rows, want %d", k, n)
	}
	return copySec, updateSec, nil
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

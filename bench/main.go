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
	"crypto/rand"
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
	rssKiB int64
	cpuSec float64
}

func run(ctx context.Context, n int, adminURL string, keep bool) error {
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

	x, c := runs["xlsx"], runs["csv"]
	fileSize := func(p string) string {
		st, err := os.Stat(p)
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.1f MB", float64(st.Size())/1e6)
	}
	fmt.Printf("portalwerk import benchmark: %d rows, profile emails (email_mode=overwrite), every row an update\n", n)
	fmt.Printf("PostgreSQL %s, %d CPUs, %s\n", pgVersion, runtime.NumCPU(), runtime.Version())
	fmt.Printf("files: xlsx %s (6 cols, %d shared strings), csv %s (UTF-8 BOM, ';')\n\n", fileSize(xlsxPath), unique, fileSize(csvPath))

	fmt.Printf("%-34s %10s %10s\n", "engine (worker child process)", "xlsx", "csv")
	row := func(label, f string, a, b float64) {
		fmt.Printf("%-34s %10s %10s\n", label, fmt.Sprintf(f, a), fmt.Sprintf(f, b))
	}
	row("preview s", "%.2f", x.PreviewSec, c.PreviewSec)
	row("  of which read+stage+COPY s", "%.2f", x.LoadSec, c.LoadSec)
	row("  of which forecast etc. s", "%.2f", x.PreviewSec-x.LoadSec, c.PreviewSec-c.LoadSec)
	row("apply s", "%.2f", x.ApplySec, c.ApplySec)
	row("preview + apply s", "%.2f", x.PreviewSec+x.ApplySec, c.PreviewSec+c.ApplySec)
	row("preview rows/s", "%.0f", float64(n)/x.PreviewSec, float64(n)/c.PreviewSec)
	row("apply rows/s", "%.0f", float64(n)/x.ApplySec, float64(n)/c.ApplySec)
	row("worker peak RSS MiB", "%.1f", float64(x.rssKiB)/1024, float64(c.rssKiB)/1024)
	row("worker CPU s (user+sys)", "%.2f", x.cpuSec, c.cpuSec)
	fmt.Printf("%-34s %10d %10d\n", "forecast = applied updates", x.Forecast.Update, c.Forecast.Update)
	fmt.Println()
	fmt.Println("floors (one run each)")
	fmt.Printf("  %-52s %8.2f s\n", "bare excelize Rows read of the local xlsx", xlsxFloor)
	fmt.Printf("  %-52s %8.2f s\n", "bare encoding/csv read of the local csv", csvFloor)
	fmt.Printf("  %-52s %8.2f s\n", "bare COPY of the rows into a temp table", copyFloor)
	fmt.Printf("  %-52s %8.2f s\n", "bare UPDATE customers … FROM temp table (+commit)", updateFloor)
	fmt.Println()
	fmt.Println("ratios")
	xr, cr := x.PreviewSec/xlsxFloor, c.PreviewSec/csvFloor
	ax, ac := x.ApplySec/updateFloor, c.ApplySec/updateFloor
	fmt.Printf("  %-52s %8.2f\n", "xlsx preview / bare excelize read", xr)
	fmt.Printf("  %-52s %8.2f\n", "csv preview / bare csv read", cr)
	fmt.Printf("  %-52s %8.2f\n", "csv preview / (bare csv read + bare COPY)", c.PreviewSec/(csvFloor+copyFloor))
	fmt.Printf("  %-52s %8.2f\n", "apply (xlsx import) / bare UPDATE", ax)
	fmt.Printf("  %-52s %8.2f\n", "apply (csv import) / bare UPDATE", ac)
	fmt.Println()
	fmt.Println("targets")
	target := func(ok bool, what, got, slack string) {
		verdict := "PASS"
		if !ok {
			verdict = "FAIL"
		}
		fmt.Printf("  %s  %-44s %s%s\n", verdict, what, got, slack)
	}
	over := func(got, limit float64) string {
		if got <= limit {
			return ""
		}
		return fmt.Sprintf("  (%.0f%% over)", (got/limit-1)*100)
	}
	target(xr <= maxXLSXPreviewRatio, "xlsx preview ≤ 1.15 × bare excelize read", fmt.Sprintf("%.2f ×", xr), over(xr, maxXLSXPreviewRatio))
	target(ax <= maxApplyRatio, "apply ≤ 1.25 × bare UPDATE (xlsx import)", fmt.Sprintf("%.2f ×", ax), over(ax, maxApplyRatio))
	target(ac <= maxApplyRatio, "apply ≤ 1.25 × bare UPDATE (csv import)", fmt.Sprintf("%.2f ×", ac), over(ac, maxApplyRatio))
	ct := c.PreviewSec + c.ApplySec
	target(ct <= maxCSVTotalSec, "csv preview + apply ≤ 20 s", fmt.Sprintf("%.2f s", ct), over(ct, maxCSVTotalSec))
	target(float64(x.rssKiB)/1024 <= maxRSSMiB, "worker peak RSS ≤ 256 MiB (xlsx)", fmt.Sprintf("%.1f MiB", float64(x.rssKiB)/1024), over(float64(x.rssKiB)/1024, maxRSSMiB))
	target(float64(c.rssKiB)/1024 <= maxRSSMiB, "worker peak RSS ≤ 256 MiB (csv)", fmt.Sprintf("%.1f MiB", float64(c.rssKiB)/1024), over(float64(c.rssKiB)/1024, maxRSSMiB))
	fmt.Println()
	fmt.Println("notes: preview reads the upload stored in PostgreSQL (1 MiB chunks; xlsx spooled to a temp")
	fmt.Println("  file first), stages it with COPY and forecasts; the bare read floors read the local file.")
	fmt.Println("  apply and the floor use UPDATE customers … FROM <staged rows> (the engine's statement shape);")
	fmt.Println("  apply also runs its count query, drops the staging table and commits. Before each engine run")
	fmt.Println("  and the floor the customers' e-mails are reset and the table vacuumed, so every row updates.")
	fmt.Println("  Peak RSS is the child's rusage Maxrss (preview + apply in one process). The preview split")
	fmt.Println("  comes from polling imports.rows_read every 20 ms (its last change = COPY finished).")
	return nil
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
// vacuums, and checkpoints, so every measured run starts from the same state.
func resetEmails(ctx context.Context, db *sqlx.DB, acc store.Account) error {
	_, err := db.ExecContext(ctx, `UPDATE customers SET email = CASE WHEN right(external_id, 1) IN ('0', '2', '4', '6', '8')
		THEN 'alt.' || external_id || '@example.org' END WHERE account_id = $1`, acc.ID)
	if err != nil {
		return fmt.Errorf("reset e-mails: %w", err)
	}
	for _, q := range []string{`VACUUM (ANALYZE) customers`, `CHECKPOINT`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
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
	importID, uploadID, filename := newID(), newID(), filepath.Base(path)
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
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKiB = ru.Maxrss // KiB on Linux
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

package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

// ErrCancelled is returned when the user cancelled the import while it ran.
var ErrCancelled = errors.New("import cancelled")

// Engine runs previews and applies.
type Engine struct {
	DB  *sqlx.DB
	Log *slog.Logger
}

// profile is what differs between import profiles: how a row is validated and staged,
// and the set-based statements that forecast and apply it.
type profile interface {
	// stagingColumns are the columns of the staging table after row_num, with types;
	// the last one is "errs jsonb".
	stagingColumns() []string
	// layout checks the header (or columns=) and returns the column positions.
	prepare(l layout) error
	// stage validates a row, adding its problems to errs, and returns the values for
	// the staging columns but the last (errs).
	stage(r sheet.Row, l layout, errs *rowErrors) []any
	// uniqueColumn is the position among stage's values of the key that must be unique
	// in the file, watched while loading (see dupFilter); -1 for none.
	uniqueColumn() int
	// forecast marks the errors only visible across rows and counts what apply would do;
	// dups says where duplicates of the unique column can be.
	forecast(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, dups dupCheck) (store.Counts, error)
	// recheck matches the staged rows against the data as it is at apply time, marks the
	// rows that can no longer apply as errors and counts what apply will do.
	recheck(ctx context.Context, tx *sqlx.Tx, st string, im store.Import) (store.Counts, error)
	// apply writes the valid staged rows into the account; c is what recheck counted.
	apply(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, c store.Counts) error
	// changes is the query of what the valid staged rows change, row by row, in the
	// columns of store.ChangeQuery, and its arguments; after recheck, before apply.
	changes(st string, im store.Import) (query string, args []any)
}

// reporter is a profile whose recheck also finds, beside the counts, the transfers per
// source account and warnings for the user to confirm knowingly (customers).
type reporter interface {
	report() (store.Sources, store.Warnings)
}

// reportOf is what the profile's last recheck reported; nothing for most profiles.
func reportOf(prof profile) (store.Sources, store.Warnings) {
	if r, ok := prof.(reporter); ok {
		return r.report()
	}
	return nil, nil
}

func newProfile(im store.Import) (profile, error) {
	switch im.Profile {
	case ProfileEmails:
		return &emailsProfile{mode: im.Options["email_mode"]}, nil
	case ProfileCustomers:
		return newCustomersProfile(im.Options), nil
	case ProfileContracts:
		return &contractsProfile{}, nil
	}
	return nil, &FileError{Code: "unknown_profile", Message: fmt.Sprintf("Das Profil „%s“ wird nicht unterstützt.", im.Profile)}
}

// stagingTable is the import's own table in the staging schema.
func stagingTable(id string) string {
	return `staging."import_` + strings.ReplaceAll(id, "-", "") + `"`
}

// batchRows is how many staged rows travel between reader and loader at once.
const batchRows = 2048

// progressEvery is how often rows_read is written while reading.
const progressEvery = time.Second

// Preview reads the file once and stages, validates and forecasts it. A preview that
// already ran returns the import as it is, so a retried task does nothing twice.
func (e *Engine) Preview(ctx context.Context, id string) (store.Import, error) {
	im, err := store.ImportByID(ctx, e.DB, id)
	if err != nil {
		return im, err
	}
	if im.Status != store.ImportQueued && im.Status != store.ImportPreviewing {
		return im, nil
	}
	if err := store.MoveImport(ctx, e.DB, id, store.ImportPreviewing, store.ImportQueued, store.ImportPreviewing); errors.Is(err, store.ErrConflict) {
		return store.ImportByID(ctx, e.DB, id)
	} else if err != nil {
		return im, err
	}
	if im.UploadID == nil {
		return im, &FileError{Code: "file_gone", Message: "Die hochgeladene Datei ist nicht mehr vorhanden. Bitte laden Sie sie erneut hoch."}
	}
	prof, err := newProfile(im)
	if err != nil {
		return im, err
	}
	rd, cleanup, err := e.open(ctx, im)
	if err != nil {
		return im, err
	}
	defer cleanup()

	var l layout
	if im.Options["header"] == "false" {
		l, err = columnsByPosition(im.Profile, im.Options["columns"])
		err = asFileError(err)
	} else {
		l, err = findHeader(rd, im.Profile, requiredFields(im))
	}
	// What was found is kept also when the file is refused: it shows why.
	if derr := store.SetImportDetected(ctx, e.DB, id, detectedOf(im, rd, l)); derr != nil {
		return im, derr
	}
	if err != nil {
		return im, err
	}
	if err := prof.prepare(l); err != nil {
		return im, err
	}

	st := stagingTable(id)
	var rowsRead int64
	var dups *dupFilter
	err = store.InTx(ctx, e.DB, func(tx *sqlx.Tx) error {
		if err := bulkMemory(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+st); err != nil {
			return fmt.Errorf("drop staging: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE `+st+` (row_num integer NOT NULL, `+strings.Join(prof.stagingColumns(), ", ")+`)`); err != nil {
			return fmt.Errorf("create staging: %w", err)
		}
		if err := saveLayout(ctx, tx, st, l); err != nil {
			return err
		}
		if rowsRead, dups, err = e.load(ctx, tx, st, id, rd, prof, l); err != nil {
			return err
		}
		if rowsRead == 0 {
			return &FileError{Code: "no_rows", Message: "Die Datei enthält keine Datenzeilen, nur die Kopfzeile."}
		}
		if _, err := tx.ExecContext(ctx, `ANALYZE `+st); err != nil {
			return fmt.Errorf("analyze staging: %w", err)
		}
		counts, err := prof.forecast(ctx, tx, st, im, dups.result())
		if err != nil {
			return err
		}
		// The forecast rewrote staged rows (their matches, their errors): with the
		// statistics of the loaded table, apply's planner took the staged rows for twice as
		// many and joined a 500,000-row move through a hash of every customer, in batches
		// that swept the customers' pages four times (9.5 s instead of 5 s).
		if _, err := tx.ExecContext(ctx, `ANALYZE `+st); err != nil {
			return fmt.Errorf("analyze staging: %w", err)
		}
		if err := store.CopyImportErrors(ctx, tx, id, st); err != nil {
			return err
		}
		counts.Rows = rowsRead
		if err := store.MoveImport(ctx, tx, id, store.ImportPreviewed, store.ImportPreviewing); errors.Is(err, store.ErrConflict) {
			return ErrCancelled
		} else if err != nil {
			return err
		}
		// Read to the end, the reader knows the encoding for sure. (Written only now: the
		// import's row stays unlocked until here, so a cancel lands at once.)
		if err := store.SetImportDetected(ctx, tx, id, detectedOf(im, rd, l)); err != nil {
			return err
		}
		sources, warnings := reportOf(prof)
		if err := store.SetImportWarnings(ctx, tx, id, warnings); err != nil {
			return err
		}
		return store.SetImportCounts(ctx, tx, id, store.ImportPreviewed, rowsRead, counts, sources)
	})
	if err != nil {
		return im, err
	}
	e.Log.InfoContext(ctx, "import previewed", slog.Int64("rows", rowsRead))
	return store.ImportByID(ctx, e.DB, id)
}

// open returns a row reader over the stored upload: csv streams from PostgreSQL; xlsx is
// spooled to a temp file first, as a zip needs random access.
func (e *Engine) open(ctx context.Context, im store.Import) (sheet.Reader, func(), error) {
	src := store.OpenUpload(ctx, e.DB, *im.UploadID)
	opts := sheet.Options{Sheet: im.Options["sheet"], Delimiter: im.Options["delimiter"], Encoding: im.Options["encoding"]}
	if isCSV(im.Filename) {
		rd, err := sheet.OpenCSV(src, opts)
		if err != nil {
			return nil, nil, fileError(err)
		}
		return rd, func() { rd.Close() }, nil
	}
	f, err := os.CreateTemp("", "portalwerk-*.xlsx")
	if err != nil {
		return nil, nil, fmt.Errorf("spool upload: %w", err)
	}
	remove := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, src); err != nil {
		remove()
		return nil, nil, fmt.Errorf("spool upload: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return nil, nil, fmt.Errorf("spool upload: %w", err)
	}
	rd, err := sheet.OpenXLSX(f.Name(), opts)
	if err != nil {
		remove()
		return nil, nil, fileError(err)
	}
	return rd, func() { rd.Close(); remove() }, nil
}

// fileError turns the reader's file-level problems into the import's user message.
func fileError(err error) error {
	var se *sheet.FileError
	if errors.As(err, &se) {
		return &FileError{Code: se.Code, Message: se.Message, Err: err}
	}
	return err
}

func asFileError(err error) error {
	var oe *OptionError
	if errors.As(err, &oe) {
		return &FileError{Code: "bad_option", Message: oe.Message, Err: err}
	}
	return err
}

// load streams the rows into the staging table with COPY. A reader goroutine reads
// batches of rows, one stager per core validates them (hashing passwords is the costly
// part) and this goroutine copies them, writing progress as it goes. Rows arrive in any
// order: each carries its row number. It also returns the filter that watched the
// profile's unique column (nil without one).
func (e *Engine) load(ctx context.Context, tx *sqlx.Tx, st, id string, rd sheet.Reader, prof profile, l layout) (int64, *dupFilter, error) {
	cols := []string{"row_num"}
	for _, c := range prof.stagingColumns() {
		cols = append(cols, strings.Fields(c)[0])
	}
	stmt, err := tx.PrepareContext(ctx, `COPY `+st+` (`+strings.Join(cols, ", ")+`) FROM STDIN`)
	if err != nil {
		return 0, nil, fmt.Errorf("start copy: %w", err)
	}
	defer stmt.Close()

	workers := runtime.GOMAXPROCS(0)
	rctx, cancel := context.WithCancel(ctx)
	raw := make(chan []sheet.Row, workers)
	staged := make(chan [][]any, workers)
	readerDone := make(chan struct{})
	var readErr error // written by the reader before readerDone closes
	// However load ends, every goroutine has stopped before the file is closed.
	defer func() {
		cancel()
		for range staged {
		}
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		defer close(raw)
		batch := make([]sheet.Row, 0, batchRows)
		send := func() bool {
			select {
			case raw <- batch:
				batch = make([]sheet.Row, 0, batchRows)
				return true
			case <-rctx.Done():
				readErr = rctx.Err()
				return false
			}
		}
		for {
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				readErr = fileError(err)
				return
			}
			batch = append(batch, r)
			if len(batch) == batchRows && !send() {
				return
			}
		}
		if len(batch) > 0 {
			send()
		}
	}()
	// Passwords are hashed by a pool of one goroutine per core, fed row by row by every
	// stager: a batch is 2,048 rows, so a file of a few hundred rows with passwords (one
	// batch) would otherwise be hashed by one stager on one core.
	hashes := make(chan hashJob)
	var hashers sync.WaitGroup
	for range workers {
		hashers.Go(func() {
			for j := range hashes {
				*j.dst = HashPassword(string(j.pw))
				j.done.Done()
			}
		})
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rows := range raw {
				out := make([][]any, len(rows))
				for i, r := range rows {
					out[i] = stageRow(prof, r, l)
				}
				if !hashBatch(rctx, hashes, out) {
					return
				}
				select {
				case staged <- out:
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(hashes)
		hashers.Wait()
		close(staged)
	}()

	var n int64
	var filter *dupFilter
	unique := prof.uniqueColumn()
	if unique >= 0 {
		filter = newDupFilter()
		unique++ // after row_num
	}
	last := time.Now()
	for batch := range staged {
		for _, vals := range batch {
			if _, err := stmt.ExecContext(ctx, vals...); err != nil {
				return n, nil, fmt.Errorf("copy row %v: %w", vals[0], err)
			}
			if filter != nil {
				if v, ok := vals[unique].(string); ok {
					filter.add(v)
				}
			}
		}
		n += int64(len(batch))
		if time.Since(last) >= progressEvery {
			last = time.Now()
			if err := e.progress(ctx, id, n); err != nil {
				return n, nil, err
			}
		}
	}
	<-readerDone
	if readErr != nil {
		return n, nil, readErr
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return n, nil, fmt.Errorf("finish copy: %w", err)
	}
	return n, filter, e.progress(ctx, id, n)
}

// plainPassword is a password cell's value as a profile stages it; the loader replaces
// it with its hash (HashPassword) before the row is copied. It never leaves the worker.
type plainPassword string

// hashJob is one password for the loader's hash pool: the hash goes to dst.
type hashJob struct {
	pw   plainPassword
	dst  *any
	done *sync.WaitGroup
}

// hashBatch hands the batch's passwords to the hash pool and waits until all are
// hashed; false if ctx ended first (the batch is then of no use).
func hashBatch(ctx context.Context, hashes chan<- hashJob, batch [][]any) bool {
	var done sync.WaitGroup
	defer done.Wait() // no hasher writes into the batch after it is given up
	for _, vals := range batch {
		for i, v := range vals {
			pw, ok := v.(plainPassword)
			if !ok {
				continue
			}
			done.Add(1)
			select {
			case hashes <- hashJob{pw: pw, dst: &vals[i], done: &done}:
			case <-ctx.Done():
				done.Done()
				return false
			}
		}
	}
	return true
}

// stageRow is the row's values for COPY: its number, what the profile stages and its
// errors, the cells' own problems first.
func stageRow(prof profile, r sheet.Row, l layout) []any {
	var errs rowErrors
	checkCells(r, l, &errs)
	vals := append([]any{r.Num}, prof.stage(r, l, &errs)...)
	return append(vals, errs.value())
}

// maxCellChars is what an Excel cell holds at most.
const maxCellChars = 32767

// checkCells reports the cells no spreadsheet cell can hold: a NUL byte (removed from
// the cell, as PostgreSQL text cannot hold it) or more than Excel's 32,767 characters.
// A password cell's value never enters the error report.
func checkCells(r sheet.Row, l layout, errs *rowErrors) {
	pw, hasPW := l.pos["password"]
	for i := range r.Cells {
		v := r.Cells[i].Value
		shown := shorten
		if hasPW && i == pw {
			shown = func(string) string { return hiddenPassword }
		}
		if strings.IndexByte(v, 0) >= 0 {
			v = strings.ReplaceAll(v, "\x00", "")
			r.Cells[i].Value = v
			errs.add(l.columnName(i), shown(v), "nul_byte",
				"Die Zelle enthält ein Nullzeichen (NUL), das in keiner Tabellenzelle stehen darf. Bitte entfernen Sie es oder speichern Sie die Datei in Excel erneut.")
		}
		if len(v) > maxCellChars && utf8.RuneCountInString(v) > maxCellChars {
			errs.add(l.columnName(i), shown(v), "cell_too_long",
				"Die Zelle enthält mehr als 32.767 Zeichen, mehr als eine Excel-Zelle fassen kann. Bitte kürzen Sie den Inhalt.")
		}
	}
}

// hiddenPassword stands in an error report for the value of a password cell.
const hiddenPassword = "(Passwort verborgen)"

// shorten cuts a long value for an error report.
func shorten(v string) string {
	const keep = 100
	if utf8.RuneCountInString(v) <= keep {
		return v
	}
	return string([]rune(v)[:keep]) + "…"
}

// requiredFields are the fields a header must hold: the profile's required columns,
// and the keys the customers profile matches by.
func requiredFields(im store.Import) []string {
	var out []string
	for _, c := range profileColumns[im.Profile] {
		if c.required {
			out = append(out, c.field)
		}
	}
	if im.Profile == ProfileCustomers && im.Options["mode"] != "create" {
		out = append(out, strings.Split(im.Options["keys"], ",")...)
	}
	return out
}

// detectedOf is what the preview found in the file, for the user to see.
func detectedOf(im store.Import, rd sheet.Reader, l layout) store.Detected {
	found := rd.Detected()
	d := store.Detected{Format: "xlsx", Columns: map[string]string{}, IgnoredColumns: []string{}}
	if isCSV(im.Filename) {
		d.Format = "csv"
	}
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	if d.Format == "xlsx" {
		d.Sheet = orNull(found.Sheet)
	} else {
		d.Encoding, d.Delimiter = orNull(found.Encoding), orNull(found.Delimiter)
	}
	if l.headerRow > 0 {
		d.HeaderRow = &l.headerRow
	}
	for _, c := range profileColumns[im.Profile] {
		if i, ok := l.pos[c.field]; ok {
			d.Columns[c.names[0]] = l.name[c.field]
			if l.headerRow == 0 {
				d.Columns[c.names[0]] = "Spalte " + columnLetter(i)
			}
		}
	}
	if l.ignored != nil {
		d.IgnoredColumns = l.ignored
	}
	return d
}

func isCSV(filename string) bool { return strings.HasSuffix(strings.ToLower(filename), ".csv") }

// progress writes rows_read outside the preview's transaction, so it is visible while
// the preview runs, and notices a cancel.
func (e *Engine) progress(ctx context.Context, id string, n int64) error {
	err := store.SetImportProgress(ctx, e.DB, id, n)
	if errors.Is(err, store.ErrConflict) {
		return ErrCancelled
	}
	return err
}

// Apply applies a confirmed import in one transaction: all rows or, on any failure,
// none. An import already done is left as it is, so a retried task applies once. Rows
// that can no longer apply (the data changed since the preview) fail the whole import
// unless the user chose to skip invalid rows.
func (e *Engine) Apply(ctx context.Context, id string) error {
	var counts store.Counts
	st := stagingTable(id)
	err := store.InTx(ctx, e.DB, func(tx *sqlx.Tx) error {
		im, err := store.LockImport(ctx, tx, id)
		if err != nil {
			return err
		}
		if im.Status != store.ImportApplying {
			return nil
		}
		if err := bulkMemory(ctx, tx); err != nil {
			return err
		}
		prof, err := newProfile(im)
		if err != nil {
			return err
		}
		l, err := loadLayout(ctx, tx, st)
		if err != nil {
			return err
		}
		if err := prof.prepare(l); err != nil {
			return err
		}
		if counts, err = prof.recheck(ctx, tx, st, im); err != nil {
			return err
		}
		if counts.Errors > 0 && !im.SkipInvalid {
			if im.Counts != nil && im.Counts.Errors > 0 {
				return &FileError{Code: "invalid_rows", Message: fmt.Sprintf(
					"Die Datei enthält %s, und das Überspringen fehlerhafter Zeilen wurde nicht bestätigt. Es wurde nichts geändert.",
					plural(counts.Errors, "fehlerhafte Zeile", "fehlerhafte Zeilen"))}
			}
			return &FileError{Code: "changed_since_preview", Message: fmt.Sprintf(
				"Seit der Vorschau haben sich die Daten geändert: %s nicht mehr übernehmen. Es wurde nichts geändert. Bitte laden Sie die Datei erneut hoch, um eine neue Vorschau zu erhalten.",
				plural(counts.Errors, "Zeile lässt sich", "Zeilen lassen sich"))}
		}
		sources, warnings := reportOf(prof)
		if warnings.Has(store.WarningMassDelete) && !im.AllowMassDelete {
			// The preview did not warn, but the data changed since: a sync now trashes
			// more than half of the account.
			return &FileError{Code: "mass_delete", Message: fmt.Sprintf(
				"Seit der Vorschau haben sich die Daten geändert: der Abgleich würde jetzt %d Kunden in den Papierkorb verschieben, mehr als die Hälfte des Benutzerkontos. Es wurde nichts geändert. Bitte laden Sie die Datei erneut hoch, um eine neue Vorschau zu erhalten.",
				counts.Delete)}
		}
		// What apply changes, with the values it replaces, kept once the staged rows are gone.
		query, args := prof.changes(st, im)
		if err := store.SaveImportChanges(ctx, tx, id, query, args...); err != nil {
			return err
		}
		if err := prof.apply(ctx, tx, st, im, counts); err != nil {
			return err
		}
		// The errors as apply saw them, which may include rows that changed since the preview.
		if err := store.CopyImportErrors(ctx, tx, id, st); err != nil {
			return err
		}
		counts.Rows = im.RowsRead
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+st); err != nil {
			return fmt.Errorf("drop staging: %w", err)
		}
		return store.SetImportCounts(ctx, tx, id, store.ImportDone, im.RowsRead, counts, sources)
	})
	var fe *FileError
	if errors.As(err, &fe) {
		// The import fails for good; its staged rows are of no further use.
		if _, derr := e.DB.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+st); derr != nil {
			e.Log.WarnContext(ctx, "drop staging of failed import", slog.Any("err", derr))
		}
	}
	if err != nil {
		return err
	}
	e.Log.InfoContext(ctx, "import applied", slog.Int64("create", counts.Create), slog.Int64("update", counts.Update),
		slog.Int64("restore", counts.Restore), slog.Int64("transfer_copy", counts.TransferCopy), slog.Int64("transfer_move", counts.TransferMove),
		slog.Int64("delete", counts.Delete), slog.Int64("errors", counts.Errors))
	return nil
}

// plural is "1 Zeile" or "n Zeilen": the count with the German singular or plural.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// bulkWorkMem is the sort and hash memory of an import's transaction, on the database
// server. The joins of a large import (1,000,000 staged rows against as many customers)
// fit in it; with the server's default of 4MB they are split into batches spilled to
// disk, which made the apply of 1,000,000 e-mails about a second slower.
const bulkWorkMem = "64MB"

// bulkMemory sets the import transaction's work_mem and turns JIT compilation off: the
// planner's cost of a lookup stage with a correlated subquery (the customers' "match
// other accounts") passes the JIT thresholds, and compiling it took 0.6–1.0 s of a
// statement that runs in 0.5 s (100,000 staged rows); no import statement runs long
// enough for compiled expressions to pay that back.
func bulkMemory(ctx context.Context, tx *sqlx.Tx) error {
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '`+bulkWorkMem+`'; SET LOCAL jit = off`); err != nil {
		return fmt.Errorf("set work_mem and jit: %w", err)
	}
	return nil
}

// savedLayout is the file's column layout, kept with the staged rows (as the staging
// table's comment) so that apply names columns as the preview did.
type savedLayout struct {
	Pos  map[string]int    `json:"pos"`
	Name map[string]string `json:"name"`
}

func saveLayout(ctx context.Context, tx *sqlx.Tx, st string, l layout) error {
	b, err := json.Marshal(savedLayout{Pos: l.pos, Name: l.name})
	if err != nil {
		return fmt.Errorf("save layout: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `COMMENT ON TABLE `+st+` IS `+pq.QuoteLiteral(string(b))); err != nil {
		return fmt.Errorf("save layout: %w", err)
	}
	return nil
}

func loadLayout(ctx context.Context, tx *sqlx.Tx, st string) (layout, error) {
	var raw *string
	var exists bool
	if err := tx.QueryRowxContext(ctx, `SELECT to_regclass($1) IS NOT NULL, obj_description(to_regclass($1), 'pg_class')`, st).Scan(&exists, &raw); err != nil {
		return layout{}, fmt.Errorf("load layout: %w", err)
	}
	if !exists {
		return layout{}, &FileError{Code: "preview_gone", Message: "Die Vorschau dieses Imports ist nicht mehr vorhanden. Bitte laden Sie die Datei erneut hoch."}
	}
	var sl savedLayout
	if raw != nil {
		if err := json.Unmarshal([]byte(*raw), &sl); err != nil {
			return layout{}, fmt.Errorf("load layout: %w", err)
		}
	}
	l := layout{pos: sl.Pos, name: sl.Name}
	if l.pos == nil {
		l.pos = map[string]int{}
	}
	if l.name == nil {
		l.name = map[string]string{}
	}
	return l, nil
}

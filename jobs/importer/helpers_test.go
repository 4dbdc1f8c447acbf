package importer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"

	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) {
	if op := os.Getenv(crashOpEnv); op != "" {
		os.Exit(crashChild(op))
	}
	os.Exit(storetest.Main(m))
}

// fixture is one test's tenant with its account "huber".
type fixture struct {
	t    *testing.T
	ctx  context.Context
	db   *sqlx.DB
	acct store.Account
	eng  *importer.Engine
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.DB(t)
	acct := storetest.Account(t, db, "", "huber", store.RoleAdmin)
	return &fixture{t: t, ctx: context.Background(), db: db, acct: acct,
		eng: &importer.Engine{DB: db, Log: storetest.Logger(t)}}
}

// account creates another account of the fixture's tenant.
func (f *fixture) account(name string) store.Account {
	f.t.Helper()
	return storetest.Account(f.t, f.db, f.acct.Tenant, name, store.RoleAdmin)
}

// upload stores the file and creates a queued import for the fixture's account, the way
// the HTTP server does.
func (f *fixture) upload(profile, filename string, data []byte, given map[string]string) string {
	return f.uploadTo(f.acct, profile, filename, data, given)
}

func (f *fixture) uploadTo(acct store.Account, profile, filename string, data []byte, given map[string]string) string {
	f.t.Helper()
	if given == nil {
		given = map[string]string{}
	}
	opts, err := importer.Options(profile, given)
	if err != nil {
		f.t.Fatalf("options %v: %v", given, err)
	}
	uploadID := storetest.Upload(f.t, f.db, acct.TenantID, filename, data)
	return storetest.Import(f.t, f.db, acct, uploadID, profile, opts).ID
}

// preview uploads and previews a file that must preview without a file error.
func (f *fixture) preview(profile, filename string, data []byte, given map[string]string) store.Import {
	f.t.Helper()
	id := f.upload(profile, filename, data, given)
	im, err := f.eng.Preview(f.ctx, id)
	if err != nil {
		f.t.Fatalf("preview: %v", err)
	}
	if im.Status != store.ImportPreviewed || im.Counts == nil {
		f.t.Fatalf("preview: status %s, counts %v", im.Status, im.Counts)
	}
	checkSum(f.t, "preview", im)
	return im
}

// fileError previews a file that must fail with a FileError and returns it.
func (f *fixture) fileError(profile, filename string, data []byte, given map[string]string) *importer.FileError {
	f.t.Helper()
	id := f.upload(profile, filename, data, given)
	_, err := f.eng.Preview(f.ctx, id)
	var fe *importer.FileError
	if !errors.As(err, &fe) {
		f.t.Fatalf("preview: want *importer.FileError, got %T %v", err, err)
	}
	if staged := f.stagingExists(id); staged {
		f.t.Errorf("staging table of failed preview %s left behind", id)
	}
	if errs := f.errors(id); len(errs) != 0 {
		f.t.Errorf("failed preview recorded row errors: %v", errs)
	}
	return fe
}

// apply confirms a previewed import and applies it.
func (f *fixture) apply(id string, skipInvalid bool) store.Import {
	f.t.Helper()
	if err := store.ConfirmImport(f.ctx, f.db, id, skipInvalid); err != nil {
		f.t.Fatal(err)
	}
	if err := f.eng.Apply(f.ctx, id); err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	im := f.get(id)
	if im.Status != store.ImportDone || im.Counts == nil || im.FinishedAt == nil {
		f.t.Fatalf("apply: status %s, counts %v", im.Status, im.Counts)
	}
	checkSum(f.t, "apply", im)
	if f.stagingExists(id) {
		f.t.Errorf("staging table of applied import %s still exists", id)
	}
	return im
}

// run previews and applies a file in one go.
func (f *fixture) run(profile, filename string, data []byte, given map[string]string, skipInvalid bool) store.Import {
	f.t.Helper()
	im := f.preview(profile, filename, data, given)
	return f.apply(im.ID, skipInvalid)
}

func (f *fixture) get(id string) store.Import {
	f.t.Helper()
	im, err := store.ImportByID(f.ctx, f.db, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return im
}

func (f *fixture) errors(id string) []store.RowError {
	f.t.Helper()
	errs, err := store.ImportErrors(f.ctx, f.db, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return errs
}

func (f *fixture) stagingExists(id string) bool {
	f.t.Helper()
	var name *string
	table := `staging."import_` + strings.ReplaceAll(id, "-", "") + `"`
	if err := f.db.GetContext(f.ctx, &name, `SELECT to_regclass($1)::text`, table); err != nil {
		f.t.Fatal(err)
	}
	var n int
	if err := f.db.GetContext(f.ctx, &n, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'staging' AND table_name = $1`, "import_"+strings.ReplaceAll(id, "-", "")); err != nil {
		f.t.Fatal(err)
	}
	if (name != nil) != (n == 1) {
		f.t.Fatalf("to_regclass and information_schema disagree on %s", table)
	}
	return name != nil
}

// checkSum asserts that rows is the sum of the row classes.
func checkSum(t *testing.T, what string, im store.Import) {
	t.Helper()
	c := im.Counts
	sum := c.Create + c.Update + c.Unchanged + c.Skip + c.Restore + c.TransferCopy + c.TransferMove + c.Errors
	if c.Rows != sum {
		t.Errorf("%s: rows %d != sum of classes %d (%+v)", what, c.Rows, sum, *c)
	}
	if im.RowsRead != c.Rows {
		t.Errorf("%s: rows_read %d != rows %d", what, im.RowsRead, c.Rows)
	}
}

// wantCounts compares the counts that matter; Rows is checked too.
func wantCounts(t *testing.T, what string, got *store.Counts, want store.Counts) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no counts", what)
	}
	if *got != want {
		t.Errorf("%s: counts\n got %+v\nwant %+v", what, *got, want)
	}
}

// errKey is the part of a row error tests compare.
type errKey struct {
	Row    int
	Column string
	Value  string
	Code   string
}

func keys(errs []store.RowError) []errKey {
	out := make([]errKey, len(errs))
	for i, e := range errs {
		out[i] = errKey{e.Row, e.Column, e.Value, e.Code}
	}
	return out
}

func wantErrors(t *testing.T, got []store.RowError, want []errKey) {
	t.Helper()
	g := keys(got)
	if fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("row errors\n got %v\nwant %v", g, want)
	}
	for _, e := range got {
		if e.Message == "" {
			t.Errorf("row %d %s: empty message", e.Row, e.Code)
		}
	}
}

// xlsxFile writes rows from A1 on, one slice per row; a nil row stays blank.
func xlsxFile(t *testing.T, rows [][]any) []byte {
	t.Helper()
	return xlsxWith(t, rows, nil)
}

// xlsxWith writes rows and then lets edit change cells (formats, raw values).
func xlsxWith(t *testing.T, rows [][]any, edit func(x *excelize.File, sheet string)) []byte {
	t.Helper()
	x := excelize.NewFile()
	defer x.Close()
	sheet := x.GetSheetName(0)
	for i, r := range rows {
		if r == nil {
			continue
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := x.SetSheetRow(sheet, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(x, sheet)
	}
	buf, err := x.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// csvUTF8 joins lines with CRLF and prefixes a BOM, as Excel's "CSV UTF-8" does.
func csvUTF8(lines ...string) []byte {
	return []byte("\uFEFF" + strings.Join(lines, "\r\n") + "\r\n")
}

// csv1252 encodes lines as German Excel does: Windows-1252, CRLF.
func csv1252(t *testing.T, lines ...string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(strings.Join(lines, "\r\n") + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// customer is a stored customer as tests set it up and read it back.
type customer struct {
	ID                 int64   `db:"id"`
	AccountID          int64   `db:"account_id"`
	ExternalID         *string `db:"external_id"`
	Salutation         *string `db:"salutation"`
	FirstName          *string `db:"first_name"`
	LastName           *string `db:"last_name"`
	Company            *string `db:"company"`
	Street             *string `db:"street"`
	Zip                *string `db:"zip"`
	City               *string `db:"city"`
	Email              *string `db:"email"`
	Phone              *string `db:"phone"`
	LoginID            *string `db:"login_id"`
	PasswordHash       *string `db:"password_hash"`
	MustChangePassword bool    `db:"must_change_password"`
	Tags               string  `db:"tags"`
	Deleted            bool    `db:"deleted"`
}

const customerSelect = `SELECT id, account_id, external_id, salutation, first_name, last_name, company, street, zip,
	city, email, phone, login_id, password_hash, must_change_password, array_to_string(tags, ',') AS tags,
	deleted_at IS NOT NULL AS deleted FROM customers`

// addCustomer inserts a customer of the account with the given columns.
func (f *fixture) addCustomer(acct store.Account, cols map[string]any) int64 {
	f.t.Helper()
	names := []string{"tenant_id", "account_id"}
	args := []any{acct.TenantID, acct.ID}
	marks := []string{"$1", "$2"}
	for k, v := range cols {
		names = append(names, k)
		args = append(args, v)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	var id int64
	if err := f.db.GetContext(f.ctx, &id, `INSERT INTO customers (`+strings.Join(names, ", ")+`) VALUES (`+
		strings.Join(marks, ", ")+`) RETURNING id`, args...); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) customer(id int64) customer {
	f.t.Helper()
	var c customer
	if err := f.db.GetContext(f.ctx, &c, customerSelect+` WHERE id = $1`, id); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// byExt returns the live customer of the account with the external id.
func (f *fixture) byExt(acct store.Account, ext string) customer {
	f.t.Helper()
	var c customer
	if err := f.db.GetContext(f.ctx, &c, customerSelect+` WHERE account_id = $1 AND external_id = $2 AND deleted_at IS NULL`, acct.ID, ext); err != nil {
		f.t.Fatalf("customer %s: %v", ext, err)
	}
	return c
}

// customers lists the account's customers by id.
func (f *fixture) customers(acct store.Account) []customer {
	f.t.Helper()
	var cs []customer
	if err := f.db.SelectContext(f.ctx, &cs, customerSelect+` WHERE account_id = $1 ORDER BY id`, acct.ID); err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// seedResidents gives the fixture's account customers 1..n with 20-digit keys; every
// tenth has the address alt<i>@x.de already.
func (f *fixture) seedResidents(n int) {
	f.t.Helper()
	if _, err := f.db.ExecContext(f.ctx, `INSERT INTO customers (tenant_id, account_id, external_id, email)
		SELECT $1, $2, lpad(i::text, 20, '0'), CASE WHEN i % 10 = 0 THEN 'alt' || i || '@x.de' END
		FROM generate_series(1, $3) i`, f.acct.TenantID, f.acct.ID, n); err != nil {
		f.t.Fatal(err)
	}
}

// addressesWritten counts the account's customers whose address is bewohner<key>@domain.
func (f *fixture) addressesWritten(domain string) int64 {
	f.t.Helper()
	var n int64
	if err := f.db.GetContext(f.ctx, &n, `SELECT count(*) FROM customers WHERE account_id = $1
		AND email = 'bewohner' || ltrim(external_id, '0') || '@' || $2`, f.acct.ID, domain); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// snapshot is every stored value of the tenant's customers, to show nothing changed.
func (f *fixture) snapshot() string {
	f.t.Helper()
	var s string
	if err := f.db.GetContext(f.ctx, &s, `SELECT COALESCE(string_agg(c::text, E'\n' ORDER BY id), '') FROM customers c WHERE tenant_id = $1`, f.acct.TenantID); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// failOn installs a trigger that makes writes of customers of the account fail when
// the row's column has the value, to break an apply midway. It returns the function
// that removes it (also run at cleanup).
func (f *fixture) failOn(acct store.Account, column, value string) (remove func()) {
	f.t.Helper()
	name := "fail_" + strings.ReplaceAll(store.NewID(), "-", "")[:12]
	_, err := f.db.ExecContext(f.ctx, fmt.Sprintf(`CREATE FUNCTION %[1]s() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.account_id = %[2]d AND NEW.%[3]s = %[4]s THEN
				RAISE EXCEPTION 'test: write of %%', NEW.%[3]s;
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER %[1]s BEFORE INSERT OR UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION %[1]s();`,
		name, acct.ID, column, "'"+strings.ReplaceAll(value, "'", "''")+"'"))
	if err != nil {
		f.t.Fatal(err)
	}
	remove = func() {
		if _, err := f.db.ExecContext(context.Background(), `DROP TRIGGER IF EXISTS `+name+` ON customers; DROP FUNCTION IF EXISTS `+name+`()`); err != nil {
			f.t.Error(err)
		}
	}
	f.t.Cleanup(remove)
	return remove
}

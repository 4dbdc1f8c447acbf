package importer_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// A large workbook previews and applies in one pass, with every row counted.
func TestEmailsLargeXLSX(t *testing.T) {
	if testing.Short() {
		t.Skip("large file")
	}
	t.Parallel()
	f := newFixture(t)
	const n = 50000
	f.seedResidents(n)

	x := excelize.NewFile()
	sw, err := x.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A1", []any{"Nutzerfremdnummer", "Name", "E-Mail"}); err != nil {
		t.Fatal(err)
	}
	var unknown, skip, filled int64
	for i := 1; i <= n; i++ {
		var k any = fmt.Sprintf("%020d", i)
		if i%2 == 0 {
			k = i // typed as a number
		}
		mail := fmt.Sprintf("bewohner%d@Example.DE", i)
		switch {
		case i%1000 == 0:
			k = fmt.Sprintf("%020d", n+i) // unknown
			unknown++
		case i%777 == 0:
			mail = ""
			skip++
		case i%10 == 0:
			filled++ // has an address already: fill_empty leaves it
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, []any{k, "Bewohner", mail}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	buf, err := x.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	x.Close()

	start := time.Now()
	im := f.preview("emails", "gross.xlsx", buf.Bytes(), nil)
	t.Logf("preview of %d rows (%d bytes) in %s", n, buf.Len(), time.Since(start))
	want := store.Counts{Rows: n, Update: n - unknown - skip - filled, Unchanged: filled, Skip: skip, Errors: unknown}
	wantCounts(t, "preview", im.Counts, want)
	if im.RowsRead != n {
		t.Errorf("rows_read %d", im.RowsRead)
	}
	if errs := f.errors(im.ID); int64(len(errs)) != unknown || errs[0].Row != 1001 || errs[0].Code != "unknown_key" {
		t.Errorf("%d errors, first %+v", len(errs), errs[0])
	}

	start = time.Now()
	im = f.apply(im.ID, true)
	t.Logf("apply in %s", time.Since(start))
	wantCounts(t, "apply", im.Counts, want)
	if set := f.addressesWritten("example.de"); set != want.Update {
		t.Errorf("%d addresses written, want %d", set, want.Update)
	}
}

// A cancel while the preview reads stops it; nothing is left behind.
func TestPreviewCancelledWhileReading(t *testing.T) {
	if testing.Short() {
		t.Skip("large file")
	}
	t.Parallel()
	f := newFixture(t)
	x := excelize.NewFile()
	sw, err := x.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	sw.SetRow("A1", []any{"Nutzerfremdnummer", "E-Mail"})
	const n = 50000
	for i := 1; i <= n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, []any{i, fmt.Sprintf("b%d@x.de", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	buf, err := x.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	x.Close()

	id := f.upload("emails", "gross.xlsx", buf.Bytes(), nil)
	done := make(chan error, 1)
	go func() {
		_, err := f.eng.Preview(f.ctx, id)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		im := f.get(id)
		if im.Status == store.ImportPreviewing && im.RowsRead > 0 {
			break
		}
		if im.Status != store.ImportQueued && im.Status != store.ImportPreviewing || time.Now().After(deadline) {
			t.Fatalf("no progress seen: status %s, rows_read %d", im.Status, im.RowsRead)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := store.MoveImport(f.ctx, f.db, id, store.ImportCancelled, store.ImportPreviewing); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, importer.ErrCancelled) {
		t.Fatalf("preview after cancel: %v", err)
	}
	if im := f.get(id); im.Status != store.ImportCancelled || im.Counts != nil {
		t.Errorf("cancelled import: status %s, counts %v", im.Status, im.Counts)
	}
	if f.stagingExists(id) || len(f.errors(id)) != 0 {
		t.Error("cancelled preview left staged rows or errors")
	}
}

// A preview of an import cancelled before it started does nothing.
func TestPreviewOfCancelledImport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.upload("emails", "x.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "1;a@x.de"), nil)
	if err := store.MoveImport(f.ctx, f.db, id, store.ImportCancelled, store.ImportQueued); err != nil {
		t.Fatal(err)
	}
	im, err := f.eng.Preview(f.ctx, id)
	if err != nil || im.Status != store.ImportCancelled || im.Counts != nil || f.stagingExists(id) {
		t.Fatalf("preview of a cancelled import: %v, %s, %v", err, im.Status, im.Counts)
	}
}

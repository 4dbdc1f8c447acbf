package main

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"portalwerk/jobs/sheet"
)

// Reader targets (issue 13): the jobs/sheet xlsx reader alone against the
// decompression floor and against excelize's Rows.
const (
	maxReaderFloorRatio = 2.0
	minExcelizeSpeedup  = 15.0
)

// readerRuns are the xlsx reader timings of all rounds, in seconds.
type readerRuns struct {
	floor, floorSheet, reader, excelize []float64
}

// floorUnzip decompresses what any reader of the workbook must decompress
// (the sheet and the shared strings) to io.Discard with archive/zip, and
// reports that and the sheet alone.
func floorUnzip(path string) (both, sheetOnly float64, err error) {
	t := time.Now()
	zr, err := zip.OpenReader(path)
	if err != nil {
		return 0, 0, err
	}
	defer zr.Close()
	for _, name := range []string{"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"} {
		t0 := time.Now()
		rc, err := zr.Open(name)
		if err != nil {
			return 0, 0, err
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			return 0, 0, err
		}
		rc.Close()
		if name == "xl/worksheets/sheet1.xml" {
			sheetOnly = time.Since(t0).Seconds()
		}
	}
	return time.Since(t).Seconds(), sheetOnly, nil
}

// readXLSXChecked reads the workbook with jobs/sheet and checks the row
// count and a few rows against the generator.
func readXLSXChecked(path string, n int) (float64, error) {
	t := time.Now()
	rd, err := sheet.OpenXLSX(path, sheet.Options{})
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	count := 0
	vals := make([]string, 0, 6)
	for {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if i := count; i == 0 || sampled(i, n) {
			vals = vals[:0]
			for _, c := range row.Cells {
				vals = append(vals, c.Value)
			}
			want := header
			if i > 0 {
				want = record(i)
			}
			if !slices.Equal(vals, want) || row.Num != i+1 {
				return 0, fmt.Errorf("row %d reads %d %q, want %q", i+1, row.Num, vals, want)
			}
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

// measureReaders runs one round of floor, reader and excelize.
func measureReaders(path string, n int, rr *readerRuns, withExcelize bool) error {
	runtime.GC()
	f, fs, err := floorUnzip(path)
	if err != nil {
		return fmt.Errorf("decompression floor: %w", err)
	}
	runtime.GC()
	r, err := readXLSXChecked(path, n)
	if err != nil {
		return fmt.Errorf("jobs/sheet xlsx read: %w", err)
	}
	rr.floor, rr.floorSheet, rr.reader = append(rr.floor, f), append(rr.floorSheet, fs), append(rr.reader, r)
	note("readers: decompression floor %.2fs (sheet alone %.2fs), jobs/sheet xlsx %.2fs", f, fs, r)
	if withExcelize {
		runtime.GC()
		x, err := bareXLSX(path, n)
		if err != nil {
			return fmt.Errorf("bare excelize read: %w", err)
		}
		rr.excelize = append(rr.excelize, x)
		note("readers: bare excelize Rows %.2fs", x)
	}
	return nil
}

func reportReaders(rr readerRuns) {
	floor, reader := median(rr.floor), median(rr.reader)
	fmt.Printf("xlsx readers (local file, medians): decompression floor (sheet + shared strings, archive/zip to io.Discard) %.2f s [%s], sheet alone %.2f s\n",
		floor, list(rr.floor), median(rr.floorSheet))
	fmt.Printf("  jobs/sheet reader %.2f s [%s]", reader, list(rr.reader))
	if len(rr.excelize) > 0 {
		fmt.Printf(", excelize Rows %.2f s [%s]", median(rr.excelize), list(rr.excelize))
	}
	fmt.Println()
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	ratio := reader / floor
	fmt.Printf("  %s  jobs/sheet reader ≤ %.0f × decompression floor          %.2f ×\n", verdict(ratio <= maxReaderFloorRatio), maxReaderFloorRatio, ratio)
	if len(rr.excelize) > 0 {
		sp := median(rr.excelize) / reader
		fmt.Printf("  %s  jobs/sheet reader ≥ %.0f × faster than excelize Rows    %.1f ×\n", verdict(sp >= minExcelizeSpeedup), minExcelizeSpeedup, sp)
	}
}

// runReaders is the -readers mode: only the xlsx readers, no database.
func runReaders(n, rounds int, withExcelize bool) error {
	dir, err := os.MkdirTemp("", "portalwerk-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "nutzer.xlsx")
	unique, err := writeXLSX(path, n)
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	st, _ := os.Stat(path)
	fmt.Printf("portalwerk xlsx reader bench: %d rows × 6 shared-string columns, %d shared strings, %.1f MB, %d rounds, %d CPUs, %s\n",
		n, unique, float64(st.Size())/1e6, rounds, runtime.NumCPU(), runtime.Version())
	var rr readerRuns
	for range rounds {
		if err := measureReaders(path, n, &rr, withExcelize); err != nil {
			return err
		}
	}
	reportReaders(rr)
	return nil
}

package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	kflate "github.com/klauspost/compress/flate"

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
	floorKP                             []float64 // the floor inflated with klauspost
	rssKiB                              int64     // the reader child's VmHWM, highest round
}

// floorUnzip decompresses what any reader of the workbook must decompress (the sheet
// and the shared strings) to io.Discard with archive/zip, and reports that and the sheet
// alone. With klauspost it inflates with github.com/klauspost/compress/flate, as
// jobs/sheet does, instead of the standard library (the floor of the targets).
func floorUnzip(path string, klauspost bool) (both, sheetOnly float64, err error) {
	t := time.Now()
	zr, err := zip.OpenReader(path)
	if err != nil {
		return 0, 0, err
	}
	defer zr.Close()
	if klauspost {
		zr.RegisterDecompressor(zip.Deflate, kflate.NewReader)
	}
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

// readXLSXChecked reads the workbook with jobs/sheet and checks the row count and a
// few rows against the generator.
func readXLSXChecked(path string, bk book) (float64, error) {
	t := time.Now()
	rd, err := sheet.OpenXLSX(path, sheet.Options{})
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	count := 0
	vals := make([]string, 0, len(bk.header))
	for {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if i := count; i == 0 || sampled(i, bk.n) {
			vals = vals[:0]
			for _, c := range row.Cells {
				vals = append(vals, c.Value)
			}
			want := bk.header
			if i > 0 {
				want = bk.record(i)
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
	if count != bk.n+1 {
		return 0, fmt.Errorf("read %d rows, want %d", count, bk.n+1)
	}
	return d, nil
}

// readerResult is what `bench -child-reader` reports on stdout.
type readerResult struct {
	ReadSec float64 `json:"read_s"`
	HWMKiB  int64   `json:"vm_hwm_kib"` // the child's peak RSS: the reader's alone
}

// runReaderChild is `bench -child-reader <path> users|distinct <n>`: it reads the
// workbook with jobs/sheet in a process of its own, so that its peak RSS is the reader's.
func runReaderChild(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bench -child-reader <path> users|distinct <n>")
		return 2
	}
	n, err := strconv.Atoi(args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "child-reader:", err)
		return 2
	}
	bk := usersBook(n)
	if args[1] == "distinct" {
		bk = distinctBook(n)
	}
	// BENCH_READER_CPUPROFILE=file writes the read's CPU profile there.
	if file := os.Getenv("BENCH_READER_CPUPROFILE"); file != "" {
		stop, err := startProfile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child-reader:", err)
			return 1
		}
		defer stop()
	}
	var res readerResult
	if res.ReadSec, err = readXLSXChecked(args[0], bk); err == nil {
		res.HWMKiB, err = peakRSS()
	}
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child-reader:", err)
		return 1
	}
	return 0
}

// readInChild runs the jobs/sheet reader in a child process (see runReaderChild);
// profile, if not "", is where it writes its CPU profile.
func readInChild(path, kind string, n int, profile string) (readerResult, error) {
	var res readerResult
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	var out bytes.Buffer
	cmd := exec.Command(exe, "-child-reader", path, kind, strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if profile != "" {
		cmd.Env = append(os.Environ(), "BENCH_READER_CPUPROFILE="+profile)
	}
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("reader child: %w", err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("reader child output %q: %w", out.String(), err)
	}
	return res, nil
}

// measureReaders runs one round of floor, reader and excelize.
// profile, if not "", is where the reader child writes its CPU profile.
func measureReaders(path string, n int, rr *readerRuns, withExcelize bool, profile string) error {
	runtime.GC()
	f, fs, err := floorUnzip(path, false)
	if err != nil {
		return fmt.Errorf("decompression floor: %w", err)
	}
	runtime.GC()
	fk, _, err := floorUnzip(path, true)
	if err != nil {
		return fmt.Errorf("klauspost decompression floor: %w", err)
	}
	rr.floorKP = append(rr.floorKP, fk)
	runtime.GC()
	res, err := readInChild(path, "users", n, profile)
	if err != nil {
		return fmt.Errorf("jobs/sheet xlsx read: %w", err)
	}
	r := res.ReadSec
	rr.floor, rr.floorSheet, rr.reader = append(rr.floor, f), append(rr.floorSheet, fs), append(rr.reader, r)
	rr.rssKiB = max(rr.rssKiB, res.HWMKiB)
	note("readers: decompression floor %.2fs (sheet alone %.2fs, klauspost %.2fs), jobs/sheet xlsx %.2fs (peak RSS %.0f MiB)", f, fs, fk, r, float64(res.HWMKiB)/1024)
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
	fmt.Printf("  the same with klauspost/compress/flate (jobs/sheet's inflater) %.2f s [%s]\n", median(rr.floorKP), list(rr.floorKP))
	fmt.Printf("  jobs/sheet reader %.2f s [%s], peak RSS %.0f MiB (child VmHWM, highest round)", reader, list(rr.reader), float64(rr.rssKiB)/1024)
	if len(rr.excelize) > 0 {
		fmt.Printf(", excelize Rows %.2f s [%s]", median(rr.excelize), list(rr.excelize))
	}
	fmt.Println()
	ratio := reader / floor
	fmt.Printf("  %s  jobs/sheet reader ≤ %.0f × decompression floor          %.2f × (%.2f × the klauspost floor; per round %s)\n",
		passFail(ratio <= maxReaderFloorRatio), maxReaderFloorRatio, ratio, reader/median(rr.floorKP), ratios(rr.reader, rr.floor))
	if len(rr.excelize) > 0 {
		sp := median(rr.excelize) / reader
		fmt.Printf("  %s  jobs/sheet reader ≥ %.0f × faster than excelize Rows    %.1f ×\n", passFail(sp >= minExcelizeSpeedup), minExcelizeSpeedup, sp)
	}
	fmt.Printf("  %s  jobs/sheet reader peak RSS ≤ %.0f MiB                    %.0f MiB\n", passFail(float64(rr.rssKiB)/1024 <= maxRSSMiB), maxRSSMiB, float64(rr.rssKiB)/1024)
}

// passFail is a target's verdict in the reader report.
func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// ratios lists a[i]/b[i], round by round.
func ratios(a, b []float64) string {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return list(r)
}

// runReaders is the -readers mode: only the xlsx readers, no database. With distinct > 0
// it also reads a workbook of that many distinct shared strings (the reader's memory
// bound) in a child process each round.
func runReaders(n, rounds int, withExcelize bool, distinct int, profile string) error {
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
	fmt.Printf("portalwerk xlsx reader bench: %d rows × 6 shared-string columns, %d shared strings, %.1f MB, %d rounds, %d CPUs, %s, load average %s at start\n",
		n, unique, float64(st.Size())/1e6, rounds, runtime.NumCPU(), runtime.Version(), loadAvg())
	var rr readerRuns
	for range rounds {
		if err := measureReaders(path, n, &rr, withExcelize, profile); err != nil {
			return err
		}
	}
	reportReaders(rr)
	if distinct > 0 {
		if err := readDistinct(filepath.Join(dir, "distinct.xlsx"), distinct, rounds); err != nil {
			return err
		}
	}
	fmt.Printf("load average %s at end\n", loadAvg())
	return nil
}

// readDistinct writes a workbook of strings distinct shared strings and reads it with
// jobs/sheet in a child process per round, against the (standard library) floor.
func readDistinct(path string, strings, rounds int) error {
	bk := distinctBook(strings)
	unique, err := writeBook(path, bk)
	if err != nil {
		return fmt.Errorf("write distinct xlsx: %w", err)
	}
	st, _ := os.Stat(path)
	var floors, reads []float64
	var rss int64
	for range rounds {
		runtime.GC()
		f, _, err := floorUnzip(path, false)
		if err != nil {
			return fmt.Errorf("decompression floor: %w", err)
		}
		res, err := readInChild(path, "distinct", strings, "")
		if err != nil {
			return fmt.Errorf("jobs/sheet distinct read: %w", err)
		}
		floors, reads, rss = append(floors, f), append(reads, res.ReadSec), max(rss, res.HWMKiB)
		note("readers, distinct strings: decompression floor %.2fs, jobs/sheet xlsx %.2fs (peak RSS %.0f MiB)", f, res.ReadSec, float64(res.HWMKiB)/1024)
	}
	fmt.Printf("distinct strings: %d rows × 5 columns, %d distinct shared strings, %.1f MB: floor %.2f s [%s], jobs/sheet reader %.2f s [%s] (%.2f ×)\n",
		bk.n+1, unique, float64(st.Size())/1e6, median(floors), list(floors), median(reads), list(reads), median(reads)/median(floors))
	fmt.Printf("  %s  jobs/sheet reader peak RSS ≤ %.0f MiB (%d distinct strings)  %.0f MiB\n", passFail(float64(rss)/1024 <= maxRSSMiB), maxRSSMiB, unique, float64(rss)/1024)
	return nil
}

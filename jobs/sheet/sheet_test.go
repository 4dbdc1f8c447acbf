package sheet

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// readAll drains r and closes it.
func readAll(t *testing.T, r Reader) []Row {
	t.Helper()
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d rows: %v", len(rows), err)
		}
		rows = append(rows, row)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return rows
}

// wantFileError checks that err is a FileError with code whose message
// contains every part.
func wantFileError(t *testing.T, err error, code string, parts ...string) *FileError {
	t.Helper()
	fe, ok := errors.AsType[*FileError](err)
	if !ok {
		t.Fatalf("want FileError %s, got %v", code, err)
	}
	if fe.Code != code {
		t.Fatalf("want code %s, got %s (%s; cause %v)", code, fe.Code, fe.Message, fe.Err)
	}
	for _, p := range parts {
		if !strings.Contains(fe.Message, p) {
			t.Errorf("message %q lacks %q", fe.Message, p)
		}
	}
	return fe
}

// values returns the rows as Num and cell values, for compact comparisons.
func values(rows []Row) map[int][]string {
	out := make(map[int][]string, len(rows))
	for _, r := range rows {
		vals := make([]string, len(r.Cells))
		for i, c := range r.Cells {
			vals[i] = c.Value
		}
		out[r.Num] = vals
	}
	return out
}

func nums(rows []Row) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = r.Num
	}
	return out
}

func TestMakeCells(t *testing.T) {
	cells := makeCells([]string{"", "a", " ", "\u00a0", ""}, func(string) Kind { return Text })
	if len(cells) != 2 || cells[0] != (Cell{}) || cells[1] != (Cell{Kind: Text, Value: "a"}) {
		t.Errorf("got %+v", cells)
	}
	if cells := makeCells([]string{" ", "\t", "\u00a0"}, func(string) Kind { return Text }); cells != nil {
		t.Errorf("blank row: got %+v", cells)
	}
}

package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"net/http"

	"github.com/xuri/excelize/v2"

	"portalwerk/store"
)

// templateColumn is one column of an import template: its German header (one the
// profile reads), whether Excel must keep it as text (keys, postcodes, phone numbers:
// leading zeros), the example of row 2 and the hint on the sheet "Hinweise".
type templateColumn struct {
	header, example, hint string
	text                  bool
}

// importTemplates are the columns of each profile's template, in file order.
var importTemplates = map[string][]templateColumn{
	"emails": {
		{"Nutzerfremdnummer", "00000000001200100300", "Pflicht. Die 20-stellige Nummer der Nutzeinheit, wie sie die Abrechnung vergibt. Kürzere Nummern werden vorne mit Nullen auf 20 Stellen aufgefüllt. Die Spalte ist als Text formatiert, damit Excel keine Ziffern abschneidet.", true},
		{"E-Mail", "anna.huber@example.de", "Pflicht. Genau eine Adresse je Zelle. Eine leere Zelle ändert nichts.", false},
	},
	"customers": {
		{"Externe ID", "0001200100", "Ihre Kundennummer; sie bleibt, wie Sie sie schreiben (auch mit führenden Nullen). Heißt die Spalte „Nutzerfremdnummer“, gilt die 20-Stellen-Regel des E-Mail-Imports. Ohne Nummer wird der Kunde immer neu angelegt.", true},
		{"Portal ID", "", "Die Nummer, die das Portal dem Kunden gegeben hat (portal_id); nur zum Abgleich mit keys=portal_id. Für neue Kunden leer lassen.", false},
		{"Anrede", "Frau", "Frei, z. B. Frau, Herr, Firma.", false},
		{"Vorname", "Anna", "", false},
		{"Nachname", "Huber", "", false},
		{"Firma", "", "", false},
		{"Straße", "Hauptstraße 1", "Straße und Hausnummer.", false},
		{"PLZ", "01067", "Als Text formatiert, damit die führende Null bleibt.", true},
		{"Ort", "Dresden", "", false},
		{"E-Mail", "anna.huber@example.de", "Genau eine Adresse je Zelle.", false},
		{"Telefon", "0351 123456", "Als Text formatiert, damit die führende Null bleibt.", true},
		{"Login ID", "ahuber", "Optional: der Anmeldename im Portal, im ganzen Mandanten eindeutig.", true},
		{"Passwort", "", "Optional: ein Startpasswort. Es wird nur verschlüsselt (gehasht) gespeichert.", false},
	},
	"contracts": {
		{"Kunde", "0001200100", "Pflicht. Die Externe ID des Kunden, dem der Vertrag gehört.", true},
		{"Vertrag", "V-2026-001", "Pflicht. Die Vertragsnummer.", true},
		{"Zählermeldung", "portal", "portal (der Kunde meldet im Portal) oder other (anders).", false},
		{"Intervall", "monthly", "monthly (monatlich), quarterly (vierteljährlich) oder yearly (jährlich).", false},
		{"Ansprechpartner", "Anna Huber", "Name des Ansprechpartners. Mehrere Ansprechpartner: die Zeile des Zählwerks je Ansprechpartner wiederholen.", false},
		{"E-Mail Ansprechpartner", "anna.huber@example.de", "An diese Adresse gehen die Zählerstandsanfragen.", false},
		{"Zähler", "SN 4711", "Zähler- oder Maschinennummer.", true},
		{"Zählwerk", "Schwarz/Weiß", "z. B. Schwarz/Weiß, Farbe, Wärme.", false},
		{"Einheit", "Seiten", "z. B. Seiten, kWh, m³.", false},
		{"Stellen", "7", "Stellen des Zählwerks vor dem Komma.", false},
		{"Nachkommastellen", "0", "Stellen nach dem Komma.", false},
		{"Letzter Zählerstand", "12345", "Der zuletzt abgerechnete Stand; er wird der freigegebene Stand des Zählwerks.", false},
		{"Datum letzter Zählerstand", "2026-10-31", "Datum dieses Stands (JJJJ-MM-TT).", false},
		{"Ableseanleitung", "https://example.de/ablesen", "Optional: Link „Wie lese ich den Zähler ab?“.", false},
	},
}

// textFormat is Excel's built-in number format "@" (text).
const textFormat = 49

// importTemplate answers the profile's template: a workbook with the header in row 1,
// an example in row 2, the text columns formatted as text and a sheet "Hinweise"; or,
// with format=csv, the header line for German Excel.
func (s *Server) importTemplate(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	profile := r.PathValue("profile")
	cols, ok := importTemplates[profile]
	if !ok {
		return NotFound("Eine Vorlage gibt es für die Profile emails, customers und contracts.")
	}
	switch r.URL.Query().Get("format") {
	case "csv":
		var buf bytes.Buffer
		buf.WriteString("\uFEFF")
		cw := csv.NewWriter(&buf)
		cw.Comma, cw.UseCRLF = ';', true
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = c.header
		}
		cw.Write(header)
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="vorlage-`+profile+`.csv"`)
		_, err := w.Write(buf.Bytes())
		return err
	case "", "xlsx":
	default:
		return BadRequest("format muss xlsx oder csv sein.")
	}
	f, err := templateWorkbook(cols)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="vorlage-`+profile+`.xlsx"`)
	_, err = f.WriteTo(w)
	return err
}

func templateWorkbook(cols []templateColumn) (*excelize.File, error) {
	f := excelize.NewFile()
	const data, hints = "Import", "Hinweise"
	if err := f.SetSheetName("Sheet1", data); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.NewSheet(hints); err != nil {
		f.Close()
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: textFormat})
	if err != nil {
		f.Close()
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		f.Close()
		return nil, err
	}
	set := func(sheet string, col, row int, v string, style int) error {
		cell, err := excelize.CoordinatesToCellName(col, row)
		if err == nil {
			err = f.SetCellStr(sheet, cell, v)
		}
		if err == nil && style != 0 {
			err = f.SetCellStyle(sheet, cell, cell, style)
		}
		return err
	}
	var errs []error
	check := func(err error) { errs = append(errs, err) }
	for i, c := range cols {
		name, err := excelize.ColumnNumberToName(i + 1)
		check(err)
		check(f.SetColWidth(data, name, name, float64(max(14, len([]rune(c.header))+4))))
		style := 0
		if c.text {
			style = text
			check(f.SetColStyle(data, name, text)) // rows the user adds are text too
		}
		check(set(data, i+1, 1, c.header, bold))
		check(set(data, i+1, 2, c.example, style))
		check(set(hints, 1, i+2, c.header, 0))
		kind := "Zahl oder Text"
		if c.text {
			kind = "Text (führende Nullen bleiben)"
		}
		check(set(hints, 2, i+2, kind, 0))
		check(set(hints, 3, i+2, c.hint, 0))
	}
	check(set(hints, 1, 1, "Spalte", bold))
	check(set(hints, 2, 1, "Format", bold))
	check(set(hints, 3, 1, "Erläuterung", bold))
	check(f.SetColWidth(hints, "A", "B", 28))
	check(f.SetColWidth(hints, "C", "C", 100))
	check(f.SetPanes(data, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}))
	if err := errors.Join(errs...); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

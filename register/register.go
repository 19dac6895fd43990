// Package register reads the Destatis municipality register (Gemeindeverzeichnis), the
// authoritative list of Germany's municipalities with their Amtlicher Regionalschlüssel,
// from which Rollin knows every municipality a campaign can roll a service out to.
//
// A copy of the register ships inside the package (see data/README.md for source and
// licence), so the product works without network access or extra files.
package register

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rollin-efa/rollin/domain"
)

//go:embed data/AuszugGV4QAktuell.csv
var gvCSV []byte

//go:embed data/kreise-2019-destatis.csv
var kreiseCSV []byte

// Rejection is a register row that could not be read. Parse collects them instead of
// failing, because one damaged row in a file of 16,000 must not stop an import; the
// project manager sees what was left out and why.
type Rejection struct {
	Line   int    `json:"line"` // 1-based line number in the file (the header is line 1)
	Reason string `json:"reason"`
}

// Result is what a register file yielded: the municipalities (Satzart 60) in file order
// and the rows that were rejected.
type Result struct {
	Municipalities []domain.Municipality
	Rejected       []Rejection
}

// Record types (Satzart) of the Gemeindeverzeichnis.
const (
	satzLand             = "10"
	satzRegierungsbezirk = "20"
	satzRegion           = "30"
	satzKreis            = "40"
	satzGemeindeverband  = "50"
	satzGemeinde         = "60"
)

// columns Parse needs; other columns (area, coordinates, ...) are ignored.
const (
	colSatzart    = "satzart"
	colLand       = "land"
	colRB         = "rb"
	colKreis      = "kreis"
	colVB         = "vb"
	colGemeinde   = "gemeinde"
	colName       = "gemeindename"
	colPopulation = "bevoelkerung"
)

var requiredColumns = []string{colSatzart, colLand, colRB, colKreis, colVB, colGemeinde, colName, colPopulation}

// keyParts are the parts of the ARS in order with their lengths.
var keyParts = []struct {
	column string
	digits int
}{{colLand, 2}, {colRB, 1}, {colKreis, 2}, {colVB, 4}, {colGemeinde, 3}}

// Parse reads a Gemeindeverzeichnis CSV export (comma-separated, header row, optional
// UTF-8 BOM). Only Gemeinde rows (Satzart 60) become municipalities; each gets the name of
// its Kreis from the Satzart-40 row with the same Land, Regierungsbezirk and Kreis,
// wherever in the file that row is. A malformed row becomes a Rejection; the error is only
// for unreadable input or a header that lacks a needed column.
func Parse(r io.Reader) (Result, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked per row, so a short row is a rejection, not an abort
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Result{}, errors.New("register: empty file, want a header row")
	}
	if err != nil {
		return Result{}, fmt.Errorf("register: read header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return Result{}, fmt.Errorf("register: header lacks column(s) %s", strings.Join(missing, ", "))
	}
	width := len(header)
	names := columnNames(header)

	var (
		res        Result
		kreisNames = map[string]string{} // land+rb+kreis → name
		firstLine  = map[domain.ARS]int{}
	)
	reject := func(line int, format string, args ...any) {
		res.Rejected = append(res.Rejected, Rejection{Line: line, Reason: fmt.Sprintf(format, args...)})
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			reject(perr.StartLine, "malformed CSV: %v", perr.Err)
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("register: read: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != width {
			reject(line, "want %d fields as in the header, got %d", width, len(rec))
			continue
		}
		if reason := badField(rec, names); reason != "" {
			reject(line, "%s", reason)
			continue
		}
		field := func(name string) string { return strings.TrimSpace(rec[col[name]]) }

		switch satz := field(colSatzart); satz {
		case satzLand, satzRegierungsbezirk, satzRegion, satzGemeindeverband:
			// Not needed: Rollin derives Land and Kreis from the ARS.
		case satzKreis:
			key, reason := joinKey(field, 3)
			if reason != "" {
				reject(line, "Kreis row: %s", reason)
				continue
			}
			kreisNames[key] = field(colName)
		case satzGemeinde:
			key, reason := joinKey(field, len(keyParts))
			if reason != "" {
				reject(line, "%s", reason)
				continue
			}
			ars := domain.ARS(key)
			name := field(colName)
			if name == "" {
				reject(line, "ARS %s: %s is empty", ars, colName)
				continue
			}
			pop, reason := parsePopulation(rec[col[colPopulation]])
			if reason != "" {
				reject(line, "ARS %s: %s", ars, reason)
				continue
			}
			if first, dup := firstLine[ars]; dup {
				reject(line, "ARS %s: duplicate of line %d", ars, first)
				continue
			}
			firstLine[ars] = line
			res.Municipalities = append(res.Municipalities, domain.Municipality{
				ARS: ars, Name: name, Land: ars.Land(), Kreis: ars.Kreis(), Population: pop,
			})
		default:
			reject(line, "unknown %s %q (want 10, 20, 30, 40, 50 or 60)", colSatzart, satz)
		}
	}
	for i := range res.Municipalities {
		m := &res.Municipalities[i]
		m.KreisName = kreisNames[m.Kreis]
	}
	return res, nil
}

// joinKey concatenates the first n ARS parts of a row, checking each part's length and
// digits; reason names the offending column.
func joinKey(field func(string) string, n int) (key, reason string) {
	var b strings.Builder
	for _, p := range keyParts[:n] {
		v := field(p.column)
		if !domain.Digits(v, p.digits) {
			return "", fmt.Sprintf("%s %q: want %d digit(s)", p.column, v, p.digits)
		}
		b.WriteString(v)
	}
	return b.String(), ""
}

// parsePopulation reads Destatis numbers like " 90 164" (spaces as thousands separators).
// An empty value, as unincorporated areas may have, is 0.
func parsePopulation(raw string) (int, string) {
	v := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' || r == '\u202f' {
			return -1
		}
		return r
	}, raw)
	if v == "" {
		return 0, ""
	}
	if !domain.AllDigits(v) {
		return 0, fmt.Sprintf("%s %q: not a whole number", colPopulation, raw)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Sprintf("%s %q: %v", colPopulation, raw, err)
	}
	return n, ""
}

// Embedded parses the register copy shipped in the binary. Each call returns fresh slices
// that the caller may modify.
func Embedded() (Result, error) {
	res, err := Parse(bytes.NewReader(gvCSV))
	if err != nil {
		return Result{}, fmt.Errorf("register: embedded Gemeindeverzeichnis: %w", err)
	}
	return res, nil
}

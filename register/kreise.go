package register

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rollin-efa/rollin/domain"
)

// Kreis is one Kreis or kreisfreie Stadt from the Destatis Kreis list. Campaigns roll a
// service out Kreis by Kreis, so the dashboard and the CLI offer this list to choose from.
type Kreis struct {
	Key        string `json:"key"`  // 5 digits: Land, Regierungsbezirk, Kreis; equals domain.ARS.Kreis()
	Name       string `json:"name"` // e.g. "Flensburg, Stadt"
	Type       string `json:"type"` // Kreisfreie Stadt, Stadtkreis, Kreis, Landkreis or Regionalverband
	NUTS3      string `json:"nuts3"`
	Population int    `json:"population"`
}

// Land returns the 2-digit key of the Land the Kreis belongs to.
func (k Kreis) Land() string { return k.Key[:2] }

// KreisResult is what a Kreis list yielded: the Kreise in file order and the rows that were
// rejected.
type KreisResult struct {
	Kreise   []Kreis
	Rejected []Rejection
}

// kreisColumns are the columns ParseKreise needs; others (area, ...) are ignored.
var kreisColumns = []string{"AGS", "type", "name", "NUTS3", "population"}

// ParseKreise reads a Destatis Kreis list (semicolon-separated, header row with the columns
// AGS, type, name, NUTS3 and population, optional UTF-8 BOM). Like Parse, it collects
// malformed rows as Rejections; the error is only for unreadable input or a header that
// lacks a needed column.
func ParseKreise(r io.Reader) (KreisResult, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = ';'
	cr.FieldsPerRecord = -1 // checked per row, so a short row is a rejection, not an abort

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return KreisResult{}, errors.New("register: empty Kreis list, want a header row")
	}
	if err != nil {
		return KreisResult{}, fmt.Errorf("register: Kreis list header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	var missing []string
	for _, c := range kreisColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return KreisResult{}, fmt.Errorf("register: Kreis list header lacks column(s) %s", strings.Join(missing, ", "))
	}
	width := len(header)
	names := columnNames(header)

	var (
		res       KreisResult
		firstLine = map[string]int{}
	)
	reject := func(line int, format string, args ...any) {
		res.Rejected = append(res.Rejected, Rejection{Line: line, Reason: fmt.Sprintf(format, args...)})
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			reject(perr.StartLine, "malformed CSV: %v", perr.Err)
			continue
		}
		if err != nil {
			return KreisResult{}, fmt.Errorf("register: read Kreis list: %w", err)
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
		key := field("AGS")
		if !domain.Digits(key, 5) {
			reject(line, "AGS %q: want a 5-digit Kreis key", key)
			continue
		}
		name := field("name")
		if name == "" {
			reject(line, "Kreis %s: name is empty", key)
			continue
		}
		pop, reason := parsePopulation(rec[col["population"]])
		if reason != "" {
			reject(line, "Kreis %s: %s", key, strings.Replace(reason, colPopulation, "population", 1))
			continue
		}
		if first, dup := firstLine[key]; dup {
			reject(line, "Kreis %s: duplicate of line %d", key, first)
			continue
		}
		firstLine[key] = line
		res.Kreise = append(res.Kreise, Kreis{
			Key: key, Name: name, Type: field("type"), NUTS3: field("NUTS3"), Population: pop,
		})
	}
}

// Kreise returns the 401 Kreise and kreisfreie Städte of the shipped Destatis list
// (status 2019) in file order, i.e. by key.
func Kreise() ([]Kreis, error) {
	res, err := ParseKreise(bytes.NewReader(kreiseCSV))
	if err != nil {
		return nil, fmt.Errorf("register: embedded Kreis list: %w", err)
	}
	if len(res.Rejected) > 0 {
		r := res.Rejected[0]
		return nil, fmt.Errorf("register: embedded Kreis list line %d: %s", r.Line, r.Reason)
	}
	return res.Kreise, nil
}

package register

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// Kreise returns the 401 Kreise and kreisfreie Städte of the shipped Destatis list
// (status 2019) in file order, i.e. by key.
func Kreise() ([]Kreis, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(kreiseCSV, []byte("\uFEFF"))))
	cr.Comma = ';'
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("register: Kreis list header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range []string{"AGS", "type", "name", "NUTS3", "population"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("register: Kreis list header lacks column %s", c)
		}
	}
	var kreise []Kreis
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return kreise, nil
		}
		if err != nil {
			return nil, fmt.Errorf("register: Kreis list: %w", err)
		}
		line, _ := cr.FieldPos(0)
		key := strings.TrimSpace(rec[col["AGS"]])
		if len(key) != 5 || !isDigits(key) {
			return nil, fmt.Errorf("register: Kreis list line %d: key %q: want 5 digits", line, key)
		}
		pop, err := strconv.Atoi(strings.TrimSpace(rec[col["population"]]))
		if err != nil {
			return nil, fmt.Errorf("register: Kreis list line %d: population: %w", line, err)
		}
		kreise = append(kreise, Kreis{
			Key: key, Name: strings.TrimSpace(rec[col["name"]]), Type: strings.TrimSpace(rec[col["type"]]),
			NUTS3: strings.TrimSpace(rec[col["NUTS3"]]), Population: pop,
		})
	}
}

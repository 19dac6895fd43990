// Package catalog ships demo EfA-Steckbriefe, so that a fresh installation, the tests and
// the benchmarks have a realistic service catalogue to roll out before a project manager
// loads the real one. The Leistungsschlüssel are real (sources in README.md); the other
// Steckbrief details are plausible but illustrative.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/rollin-efa/rollin/domain"
)

//go:embed demo.json
var demoJSON []byte

// Demo returns the demo Steckbriefe in file order. Each call decodes afresh, so callers may
// modify the result. The file is compiled in and checked by the tests, so a decoding error
// is a build defect and panics rather than burdening every caller with an error.
func Demo() []domain.Service {
	dec := json.NewDecoder(bytes.NewReader(demoJSON))
	dec.DisallowUnknownFields() // a misspelt field in demo.json must not vanish silently
	var svcs []domain.Service
	if err := dec.Decode(&svcs); err != nil {
		panic(fmt.Sprintf("catalog: embedded demo.json: %v", err))
	}
	return svcs
}

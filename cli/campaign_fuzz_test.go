package cli

import (
	"strings"
	"testing"

	"github.com/rollin-efa/rollin/domain"
)

// FuzzParseARSList: an ARS file yields only valid ARS, or an error that names the file
// (and, for a bad line, its number) — never a half-read list.
func FuzzParseARSList(f *testing.F) {
	for _, s := range []string{
		"ARS;Name\n051660004004;Brüggen\n\n051620008008;Grevenbroich\n",
		"\ufeff\"055150000000\",\"Münster\"\r\n",
		"055150000000\nnot an ars\n",
		"", ";;;\n", "ars\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		ars, err := parseARSList(strings.NewReader(file), "kommunen.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "kommunen.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			if ars != nil {
				t.Fatalf("an error and a list: %v", ars)
			}
			return
		}
		for _, a := range ars {
			if _, err := domain.ParseARS(a); err != nil {
				t.Fatalf("accepted %q: %v", a, err)
			}
		}
	})
}

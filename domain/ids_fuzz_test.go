package domain

import (
	"strings"
	"testing"
)

// FuzzParseARS: whatever is pasted, ParseARS either returns a key whose parts are well
// formed and which parses to itself, or an error that names the ARS and the rule.
func FuzzParseARS(f *testing.F) {
	for _, s := range []string{"055150000000", " 055150000000 ", "05515000000", "0551500000000", "05515000000x",
		"", "０５５１５００００００", "05515 0000000", "\t010010000000\n", "-55150000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseARS(s)
		if err != nil {
			if !strings.Contains(err.Error(), "ARS") || !strings.Contains(err.Error(), "12 digits") {
				t.Fatalf("error does not name the problem: %v", err)
			}
			return
		}
		if len(a) != 12 || len(a.Land()) != 2 || len(a.Kreis()) != 5 || len(a.AGS()) != 8 {
			t.Fatalf("ARS %q has malformed parts", a)
		}
		if again, err := ParseARS(string(a)); err != nil || again != a {
			t.Fatalf("ARS %q does not parse to itself: %q, %v", a, again, err)
		}
	})
}

// FuzzParseServiceKey: a key is 14 digits starting with 99, or the error says so.
func FuzzParseServiceKey(f *testing.F) {
	for _, s := range []string{"99107023037000", "9910702303700", "89107023037000", " 99050012104000", "99-10702303700", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseServiceKey(s)
		if err != nil {
			if !strings.Contains(err.Error(), "Leistungsschlüssel") {
				t.Fatalf("error does not name the problem: %v", err)
			}
			return
		}
		if len(k) != 14 || !strings.HasPrefix(string(k), "99") || !AllDigits(string(k)) {
			t.Fatalf("accepted %q", k)
		}
		if !strings.HasSuffix(k.URN(), string(k)) {
			t.Fatalf("URN %q does not end in the key", k.URN())
		}
	})
}

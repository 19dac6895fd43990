package register

import (
	"strings"
	"testing"

	"github.com/rollin-efa/rollin/domain"
)

// registerHeader is the header of the Destatis extract.
const registerHeader = "satzart,textkennzeichen,land,rb,kreis,vb,gemeinde,gemeindename,flaeche,bevoelkerung,maennlich,weiblich,jekm2,postleitzahl,laengengrad,breitengrad,schluessel,bezeichnung,verstaedterungschluessel,verstaedterungbezeichnung\n"

// FuzzParse feeds the register parser arbitrary files: it never panics, every municipality
// it returns has a valid ARS whose Land and Kreis match, and every rejected line names its
// line number and a reason.
func FuzzParse(f *testing.F) {
	f.Add(registerHeader +
		"10,,01,,,,,Schleswig-Holstein,,,,,,,,,,,,\n" +
		"40,41,01,0,01,,,\"Flensburg, Stadt\",,,,,,,,,,,,\n" +
		"60,61,01,0,01,0000,000,\"Flensburg, Stadt\", 53.02, 90 164, 44 904, 45 260, 1 701,24937,\"9,43751\",\"54,78252\",F02,Ostsee,01,dicht besiedelt\n")
	f.Add("\ufeff" + registerHeader + "60,61,05,5,15,0000,000,\"Münster, Stadt\", 303.28, 320 946,,,,,,,,,,\n")
	f.Add(registerHeader + "60,61,05,5,15,00x0,000,Bad,,-1,,,,,,,,,,\n")
	f.Add(registerHeader + "60,61,05\n\"unclosed,quote\n")
	f.Add("satzart,land\n60,05\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, file string) {
		res, err := Parse(strings.NewReader(file))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, m := range res.Municipalities {
			a, err := domain.ParseARS(string(m.ARS))
			if err != nil {
				t.Fatalf("municipality with a bad ARS: %+v", m)
			}
			if m.Land != a.Land() || m.Kreis != a.Kreis() {
				t.Fatalf("Land/Kreis do not match the ARS: %+v", m)
			}
			if m.Population < 0 {
				t.Fatalf("negative population: %+v", m)
			}
		}
		for _, r := range res.Rejected {
			if r.Line < 2 || strings.TrimSpace(r.Reason) == "" {
				t.Fatalf("rejection without line or reason: %+v", r)
			}
		}
	})
}

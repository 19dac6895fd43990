package register_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/register"
)

// sharedDir is the project's shared data folder, beside the repository in development and
// in CI; the tests compare the shipped copy against it.
const sharedDir = "../../shared/data/gemeindeverzeichnis/"

const header = "satzart,textkennzeichen,land,rb,kreis,vb,gemeinde,gemeindename,flaeche,bevoelkerung," +
	"maennlich,weiblich,jekm2,postleitzahl,laengengrad,breitengrad,schluessel,bezeichnung," +
	"verstaedterungschluessel,verstaedterungbezeichnung\n"

// Rows from the real file: a Kreis, its Gemeindeverband and its one Gemeinde.
const (
	flensburgKreis    = `40,41,01,0,01,,,"Flensburg, Stadt",,,,,,,,,,,,` + "\n"
	flensburgVerband  = `50,50,01,0,01,0000,,"Flensburg, Stadt",,,,,,,,,,,,` + "\n"
	flensburgGemeinde = `60,61,01,0,01,0000,000,"Flensburg, Stadt", 53.02, 90 164, 44 904, 45 260, 1 701,24937,"9,43751","54,78252",F02,Ostsee,01,dicht besiedelt` + "\n"
)

func TestEmbedded(t *testing.T) {
	t.Parallel()
	res, err := register.Embedded()
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	require.Len(t, res.Municipalities, 11004)

	// Counts per Land as documented in shared/data/gemeindeverzeichnis/README.md.
	want := map[string]int{
		"01": 1108, "02": 1, "03": 967, "04": 2, "05": 396, "06": 426, "07": 2303, "08": 1103,
		"09": 2230, "10": 53, "11": 1, "12": 417, "13": 727, "14": 419, "15": 218, "16": 633,
	}
	got := map[string]int{}
	byARS := map[domain.ARS]domain.Municipality{}
	unincorporated := 0
	for _, m := range res.Municipalities {
		got[m.Land]++
		byARS[m.ARS] = m
		_, err := domain.ParseARS(string(m.ARS))
		require.NoError(t, err)
		require.Equal(t, m.ARS.Land(), m.Land)
		require.Equal(t, m.ARS.Kreis(), m.Kreis)
		if m.Population == 0 {
			unincorporated++
		}
	}
	require.Equal(t, want, got)
	require.Len(t, byARS, 11004, "ARS are unique")
	require.Equal(t, 208, unincorporated, "gemeindefreie Gebiete have no population")

	tests := []struct {
		ars                  domain.ARS
		name, kreis, kreisNm string
		population           int
	}{
		{"010010000000", "Flensburg, Stadt", "01001", "Flensburg, Stadt", 90164},
		{"020000000000", "Hamburg, Freie und Hansestadt", "02000", "Hamburg, Freie und Hansestadt", 1847253},
		{"053150000000", "Köln, Stadt", "05315", "Köln, Stadt", 1087863},
		{"091620000000", "München, Landeshauptstadt", "09162", "München, Landeshauptstadt", 1484226},
		{"160775052043", "Schmölln, Stadt", "16077", "Altenburger Land", 13724},
	}
	for _, tt := range tests {
		m, ok := byARS[tt.ars]
		require.True(t, ok, "ARS %s", tt.ars)
		require.Equal(t, tt.name, m.Name, tt.ars)
		require.Equal(t, tt.kreis, m.Kreis, tt.ars)
		require.Equal(t, tt.kreisNm, m.KreisName, tt.ars)
		require.Equal(t, tt.population, m.Population, tt.ars)
		require.Empty(t, m.Fachverfahren, "the register carries no profile")
	}
}

func TestEmbeddedMatchesSharedCopy(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"AuszugGV4QAktuell.csv", "kreise-2019-destatis.csv"} {
		shared, err := os.ReadFile(sharedDir + name)
		require.NoError(t, err, "the shared data folder must sit beside the repository")
		shipped, err := os.ReadFile("data/" + name)
		require.NoError(t, err)
		require.True(t, bytes.Equal(shared, shipped), "register/data/%s differs from %s%s", name, sharedDir, name)
	}
}

func TestParseSharedFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(sharedDir + "AuszugGV4QAktuell.csv")
	require.NoError(t, err)
	defer f.Close()
	res, err := register.Parse(f)
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	require.Len(t, res.Municipalities, 11004)
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		row        string
		wantReason string
	}{
		{"too few fields", `60,61,01,0,01,0000,000,"Kurz, Stadt", 1.0, 5` + "\n", "want 20 fields as in the header, got 10"},
		{"letter in Kreis", `60,64,01,0,0X,0000,001,Irgendwo, 1.0, 5,,,,,,,,,,` + "\n", `kreis "0X": want 2 digit(s)`},
		{"short Gemeinde", `60,64,01,0,01,0000,01,Irgendwo, 1.0, 5,,,,,,,,,,` + "\n", `gemeinde "01": want 3 digit(s)`},
		{"bad population", `60,64,01,0,01,0000,002,Irgendwo, 1.0, 12a 4,,,,,,,,,,` + "\n", `ARS 010010000002: bevoelkerung " 12a 4": not a whole number`},
		{"negative population", `60,64,01,0,01,0000,003,Irgendwo, 1.0, -4,,,,,,,,,,` + "\n", `bevoelkerung " -4": not a whole number`},
		{"empty name", `60,64,01,0,01,0000,004,, 1.0, 4,,,,,,,,,,` + "\n", "ARS 010010000004: gemeindename is empty"},
		{"unknown satzart", `70,64,01,0,01,0000,005,Irgendwo, 1.0, 4,,,,,,,,,,` + "\n", `unknown satzart "70"`},
		{"duplicate ARS", flensburgGemeinde, "ARS 010010000000: duplicate of line 4"},
		{"bad Kreis row", `40,41,01,X,01,,,"Kaputt",,,,,,,,,,,,` + "\n", `Kreis row: rb "X": want 1 digit(s)`},
		{"bare quote", `60,64,01,0,01,0000,006,Irgend"wo, 1.0, 4,,,,,,,,,,` + "\n", "malformed CSV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Line 1 header, 2-4 Flensburg, 5 the bad row, 6 a good row after it.
			in := header + flensburgKreis + flensburgVerband + flensburgGemeinde + tt.row +
				`60,64,01,0,01,0000,999,Danach, 1.0, 1 234,,,,,,,,,,` + "\n"
			res, err := register.Parse(strings.NewReader(in))
			require.NoError(t, err)
			require.Len(t, res.Rejected, 1, "%+v", res.Rejected)
			require.Equal(t, 5, res.Rejected[0].Line)
			require.Contains(t, res.Rejected[0].Reason, tt.wantReason)

			require.Len(t, res.Municipalities, 2, "rows around the bad one are kept")
			require.Equal(t, domain.ARS("010010000000"), res.Municipalities[0].ARS)
			require.Equal(t, domain.ARS("010010000999"), res.Municipalities[1].ARS)
			require.Equal(t, 1234, res.Municipalities[1].Population)
			require.Equal(t, "Flensburg, Stadt", res.Municipalities[1].KreisName)
		})
	}
}

func TestParseBOMAndQuirks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"with BOM", "\uFEFF" + header + flensburgKreis + flensburgGemeinde},
		{"without BOM", header + flensburgKreis + flensburgGemeinde},
		{"CRLF line ends", strings.ReplaceAll("\uFEFF"+header+flensburgKreis+flensburgGemeinde, "\n", "\r\n")},
		{"Kreis row after its Gemeinde", header + flensburgGemeinde + flensburgKreis},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := register.Parse(strings.NewReader(tt.in))
			require.NoError(t, err)
			require.Empty(t, res.Rejected)
			require.Equal(t, []domain.Municipality{{
				ARS: "010010000000", Name: "Flensburg, Stadt", Land: "01", Kreis: "01001",
				KreisName: "Flensburg, Stadt", Population: 90164,
			}}, res.Municipalities)
		})
	}
}

func TestParseUnincorporatedArea(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, population string
	}{
		{"zero", "  0"},
		{"empty", ""},
		{"blank", "   "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			row := `60,66,01,0,53,9105,105,"Sachsenwald (Forstgutsbez.),gemfr.Geb.", 58.49,` + tt.population + `,  0,  0,  0,,"10,373262","53,530995",F04,übrig. Schleswig-Holstein,03,gering besiedelt` + "\n"
			res, err := register.Parse(strings.NewReader(header + row))
			require.NoError(t, err)
			require.Empty(t, res.Rejected)
			require.Len(t, res.Municipalities, 1)
			m := res.Municipalities[0]
			require.Equal(t, domain.ARS("010539105105"), m.ARS)
			require.Equal(t, "Sachsenwald (Forstgutsbez.),gemfr.Geb.", m.Name)
			require.Zero(t, m.Population)
			require.Empty(t, m.KreisName, "no Kreis row in this input")
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty input", "", "empty file"},
		{"missing columns", "satzart,land,rb,kreis,gemeindename\n60,01,0,01,X\n", "header lacks column(s) vb, gemeinde, bevoelkerung"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := register.Parse(strings.NewReader(tt.in))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseReadError(t *testing.T) {
	t.Parallel()
	_, err := register.Parse(&failingReader{data: header + flensburgKreis})
	require.ErrorIs(t, err, errDisk)
}

func TestKreise(t *testing.T) {
	t.Parallel()
	kreise, err := register.Kreise()
	require.NoError(t, err)
	require.Len(t, kreise, 401)
	require.Equal(t, register.Kreis{
		Key: "01001", Name: "Flensburg, Stadt", Type: "Kreisfreie Stadt", NUTS3: "DEF01", Population: 89504,
	}, kreise[0])

	// Every municipality belongs to a listed Kreis, except the two unincorporated areas
	// outside any Kreis (Kreis "00": a German-Luxembourg condominium and coastal waters).
	keys := map[string]bool{}
	for _, k := range kreise {
		keys[k.Key] = true
	}
	res, err := register.Embedded()
	require.NoError(t, err)
	var outside []domain.ARS
	for _, m := range res.Municipalities {
		if !keys[m.Kreis] {
			outside = append(outside, m.ARS)
			require.Empty(t, m.KreisName)
		}
	}
	require.Equal(t, []domain.ARS{"070009999999", "130009999999"}, outside)
}

func TestParseKreiseSharedFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(sharedDir + "kreise-2019-destatis.csv")
	require.NoError(t, err)
	defer f.Close()
	res, err := register.ParseKreise(f)
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	require.Len(t, res.Kreise, 401)
	embedded, err := register.Kreise()
	require.NoError(t, err)
	require.Equal(t, embedded, res.Kreise)
	require.Equal(t, "01", res.Kreise[0].Land())
}

func TestParseKreiseRejections(t *testing.T) {
	t.Parallel()
	const kreisHeader = "\uFEFFAGS;type;name;NUTS3;area_km2;population\n"
	in := kreisHeader +
		"01001;Kreisfreie Stadt;Flensburg, Stadt;DEF01;56.73;89504\n" + // line 2
		"0100;Kreisfreie Stadt;Kiel;DEF02;118.65;247548\n" + // 3: short key
		"01003;Kreisfreie Stadt;;DEF03;214.19;217198\n" + // 4: no name
		"01004;Kreisfreie Stadt;Neumünster;DEF04;71.66;viele\n" + // 5: population
		"01001;Kreisfreie Stadt;Flensburg again;DEF01;56.73;89504\n" + // 6: duplicate
		"01051;Kreis;Dithmarschen\n" + // 7: short row
		"01053;Kreis;Herzogtum Lauenburg;DEF06;1263.07;197264\n" // 8
	res, err := register.ParseKreise(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []register.Kreis{
		{Key: "01001", Name: "Flensburg, Stadt", Type: "Kreisfreie Stadt", NUTS3: "DEF01", Population: 89504},
		{Key: "01053", Name: "Herzogtum Lauenburg", Type: "Kreis", NUTS3: "DEF06", Population: 197264},
	}, res.Kreise)
	require.Equal(t, []register.Rejection{
		{Line: 3, Reason: `AGS "0100": want a 5-digit Kreis key`},
		{Line: 4, Reason: "Kreis 01003: name is empty"},
		{Line: 5, Reason: `Kreis 01004: population "viele": not a whole number`},
		{Line: 6, Reason: "Kreis 01001: duplicate of line 2"},
		{Line: 7, Reason: "want 6 fields as in the header, got 3"},
	}, res.Rejected)

	_, err = register.ParseKreise(strings.NewReader("AGS;name\n01001;Flensburg\n"))
	require.ErrorContains(t, err, "lacks column(s) type, NUTS3, population")
	_, err = register.ParseKreise(strings.NewReader(""))
	require.ErrorContains(t, err, "empty Kreis list")
	_, err = register.ParseKreise(&failingReader{data: kreisHeader})
	require.ErrorIs(t, err, errDisk)
}

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
)

// sharedRegister is the project's shared copy of the Destatis files, beside the repository.
const sharedRegister = "../../shared/data/gemeindeverzeichnis/"

// runImport runs an import command against the database at dbURL.
func runImport(t *testing.T, dbURL string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := &cobra.Command{Use: "rollin", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(ImportCommands()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	root.SetArgs(append(args, "--log-level", "warn"))
	err := root.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), url, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func TestMunicipalitiesImportRealRegister(t *testing.T) {
	t.Parallel()
	db := storetest.NewDatabase(t)
	args := []string{"municipalities", "import", sharedRegister + "AuszugGV4QAktuell.csv", "--kreise", sharedRegister + "kreise-2019-destatis.csv"}

	out, errOut, code := runImport(t, db, args...)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "municipalities: 11004 new, 0 changed, 0 unchanged, 0 rejected\n"+
		"Kreise: 401 new, 0 changed, 0 unchanged, 0 rejected\n", out)

	out, errOut, code = runImport(t, db, args...)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "municipalities: 0 new, 0 changed, 11004 unchanged, 0 rejected\n"+
		"Kreise: 0 new, 0 changed, 401 unchanged, 0 rejected\n", out)

	st := openStore(t, db)
	m, err := st.Municipality(t.Context(), "055150000000")
	require.NoError(t, err)
	require.Equal(t, "Münster, Stadt", m.Name)
	require.Equal(t, "Münster, Stadt", m.KreisName)
	nrw, err := st.Kreise(t.Context(), "05")
	require.NoError(t, err)
	require.Len(t, nrw, 53)
}

// badRegister is a register extract with a good municipality, a bad one of each kind and
// another good one; its lines are numbered as in the file.
const badRegister = "satzart,textkennzeichen,land,rb,kreis,vb,gemeinde,gemeindename,flaeche,bevoelkerung," +
	"maennlich,weiblich,jekm2,postleitzahl,laengengrad,breitengrad,schluessel,bezeichnung," +
	"verstaedterungschluessel,verstaedterungbezeichnung\n" + // line 1
	`40,41,05,5,15,,,"Münster, Stadt",,,,,,,,,,,,` + "\n" + // 2
	`60,61,05,5,15,0000,000,"Münster, Stadt", 303.28, 316 403,,,,48143,"7,62","51,96",,,,` + "\n" + // 3
	`60,61,05,5,15,0000,00X,"Kaputt",,,,,,,,,,,,` + "\n" + // 4: bad Gemeinde key
	`60,61,05,5,15,0000,001,"Zu viele Einwohner", 1, zwölf,,,,,,,,,,` + "\n" + // 5: population
	`60,61,05,5,15,0000,002,"Zu kurz"` + "\n" + // 6: short row
	`99,,05,,,,,"Unbekannt",,,,,,,,,,,,` + "\n" + // 7: record type
	`60,61,05,5,15,0000,000,"Münster again", 303.28, 316 403,,,,,,,,,,` + "\n" + // 8: duplicate
	`60,61,05,1,11,0000,000,"Düsseldorf, Stadt", 217.41, 620 523,,,,,,,,,,` + "\n" // 9

func TestMunicipalitiesImportReportsRejectedLines(t *testing.T) {
	t.Parallel()
	db := storetest.NewDatabase(t)
	file := filepath.Join(t.TempDir(), "gv.csv")
	require.NoError(t, os.WriteFile(file, []byte(badRegister), 0o600))

	out, errOut, code := runImport(t, db, "municipalities", "import", file, "--strict")
	require.Equal(t, ExitFailure, code)
	require.Contains(t, errOut, "5 line(s) rejected; nothing imported (--strict)")
	require.NotContains(t, out, "new,")
	st := openStore(t, db)
	_, err := st.Municipality(t.Context(), "055150000000")
	require.ErrorIs(t, err, store.ErrNotFound, "--strict wrote nothing")

	out, errOut, code = runImport(t, db, "municipalities", "import", file)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, `line 4: gemeinde "00X": want 3 digit(s)`+"\n"+
		`line 5: ARS 055150000001: bevoelkerung " zwölf": not a whole number`+"\n"+
		"line 6: want 20 fields as in the header, got 8\n"+
		`line 7: unknown satzart "99" (want 10, 20, 30, 40, 50 or 60)`+"\n"+
		"line 8: ARS 055150000000: duplicate of line 3\n"+
		"municipalities: 2 new, 0 changed, 0 unchanged, 5 rejected\n", out)
	m, err := st.Municipality(t.Context(), "051110000000")
	require.NoError(t, err)
	require.Equal(t, 620523, m.Population)

	kreise := filepath.Join(t.TempDir(), "kreise.csv")
	require.NoError(t, os.WriteFile(kreise, []byte("AGS;type;name;NUTS3;population\n05515;Kreisfreie Stadt;Münster, Stadt;DEA33;314319\n5111;Kreisfreie Stadt;Düsseldorf;DEA11;619294\n"), 0o600))
	out, errOut, code = runImport(t, db, "municipalities", "import", file, "--kreise", kreise)
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, `Kreis list line 3: AGS "5111": want a 5-digit Kreis key`+"\n")
	require.Contains(t, out, "municipalities: 0 new, 0 changed, 2 unchanged, 5 rejected\n")
	require.Contains(t, out, "Kreise: 1 new, 0 changed, 0 unchanged, 1 rejected\n")
}

func TestImportErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noHeader := filepath.Join(dir, "x.csv")
	require.NoError(t, os.WriteFile(noHeader, []byte("a,b\n1,2\n"), 0o600))
	badConfig := filepath.Join(dir, "rollin.yaml")
	require.NoError(t, os.WriteFile(badConfig, []byte("process:\n  call_attempts: 0\n"), 0o600))

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"municipalities", "import", filepath.Join(dir, "nope.csv")}, ExitFailure, "no such file"},
		{"not a register", []string{"municipalities", "import", noHeader}, ExitFailure, "header lacks column(s)"},
		{"bad config", []string{"municipalities", "import", noHeader, "--config", badConfig}, ExitUsage, "process.call_attempts"},
		{"unreadable config", []string{"services", "import", noHeader, "--config", filepath.Join(dir, "none.yaml")}, ExitUsage, "--config"},
		{"no file", []string{"services", "import"}, ExitFailure, "accepts 1 arg(s)"},
		{"unreachable database", []string{"services", "import", "../docs/examples/services.yaml",
			"--database-url", "postgres://postgres@127.0.0.1:1/rollin?sslmode=disable&connect_timeout=2"}, ExitFailure, "connect to rollin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := runImport(t, "", tt.args...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.want)
		})
	}
}

func TestServicesImportExampleFile(t *testing.T) {
	t.Parallel()
	db := storetest.NewDatabase(t)
	out, errOut, code := runImport(t, db, "services", "import", "../docs/examples/services.yaml")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "services: 3 new, 0 changed, 0 unchanged, 0 rejected\n", out)

	st := openStore(t, db)
	got, err := st.Services(t.Context())
	require.NoError(t, err)
	want := catalog.Demo()
	require.Len(t, got, len(want))
	byKey := map[domain.ServiceKey]domain.Service{}
	for _, s := range got {
		byKey[s.Key] = s
	}
	for _, w := range want {
		g := byKey[w.Key]
		require.Len(t, g.ActivationDates, len(w.ActivationDates))
		for i := range w.ActivationDates {
			require.True(t, w.ActivationDates[i].Equal(g.ActivationDates[i]))
		}
		g.ActivationDates, w.ActivationDates = nil, nil
		require.Equal(t, w, g, "the example file is the demo catalogue")
	}

	// The demo catalogue as JSON is the same catalogue: nothing changes.
	out, errOut, code = runImport(t, db, "services", "import", "../catalog/demo.json")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "services: 0 new, 0 changed, 3 unchanged, 0 rejected\n", out)
}

const badServices = `
- key: "99107023037000"
  name: Wohngeld
  provider: Land Schleswig-Holstein
  fachverfahren: [OK.SOZIUS]
  transports: [fit-connect]
  submission_schemas: [{schema_uri: "urn:x:wohngeld", mime_type: application/json}]
  lands: ["01", "05"]
- key: "99107023037000"
  name: Wohngeld twice
  provider: X
  fachverfahren: [OK.SOZIUS]
  transports: [fit-connect]
  submission_schemas: [{schema_uri: "urn:x:wohngeld", mime_type: application/json}]
- key: "12345"
  name: Kurzer Schlüssel
- key: "99050012104000"
  name: Gewerbe
  provider: d-NRW
  fachverfahren: [OK.GEWERBE]
  transports: [fax]
- key: "99102013104000"
  nmae: Hund
- key: "99102013104001"
  name: Hund
  provider: AKDB
  fachverfahren: [OK.FIS]
  transports: [xta]
  lands: [05, "09"]
- name: ohne Schlüssel
- just a string
`

func TestServicesImportReportsRejectedEntries(t *testing.T) {
	t.Parallel()
	db := storetest.NewDatabase(t)
	file := filepath.Join(t.TempDir(), "services.yml")
	require.NoError(t, os.WriteFile(file, []byte(badServices), 0o600))

	out, errOut, code := runImport(t, db, "services", "import", file, "--strict")
	require.Equal(t, ExitFailure, code)
	require.Contains(t, errOut, "7 entry(s) rejected; nothing imported (--strict)")
	require.Contains(t, out, "entry 2 (key 99107023037000): duplicate of entry 1\n", "--strict lists the rejections too")
	require.NotContains(t, out, "services:")
	st := openStore(t, db)
	got, err := st.Services(t.Context())
	require.NoError(t, err)
	require.Empty(t, got)

	out, errOut, code = runImport(t, db, "services", "import", file)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, strings.Join([]string{
		"entry 2 (key 99107023037000): duplicate of entry 1",
		"entry 3 (key 12345): service key: " + mustParseKeyError("12345"),
		`entry 4 (key 99050012104000): service 99050012104000: unknown transport "fax" (want fit-connect, xta or email)`,
		`entry 5 (key 99102013104000): unknown field "nmae"`,
		`entry 6 (key 99102013104001): lands: want a string, got number (quote it, e.g. "05")`,
		"entry 7 (key ?): service key: " + mustParseKeyError(""),
		"entry 8 (key ?): want a mapping of fields, got string",
		"services: 1 new, 0 changed, 0 unchanged, 7 rejected",
	}, "\n")+"\n", out)
	got, err = st.Services(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "Wohngeld", got[0].Name)
}

func mustParseKeyError(key string) string {
	_, err := domain.ParseServiceKey(key)
	return err.Error()
}

func TestParseServicesFormats(t *testing.T) {
	t.Parallel()
	const entry = `{"key": "99107023037000", "name": "Wohngeld", "provider": "SH", "fachverfahren": ["OK.SOZIUS"], "transports": ["fit-connect"], "submission_schemas": [{"schema_uri": "urn:x:w", "mime_type": "application/json"}]}`
	for _, tt := range []struct{ name, raw, ext string }{
		{"json by extension", "[" + entry + "]", ".json"},
		{"json by content", "\uFEFF \n[" + entry + "]", ""},
		{"yaml by content", "- key: \"99107023037000\"\n  name: Wohngeld\n  provider: SH\n  fachverfahren: [OK.SOZIUS]\n  transports: [fit-connect]\n  submission_schemas: [{schema_uri: \"urn:x:w\", mime_type: application/json}]\n", ".txt"},
		{"yaml flow style by extension", "[" + entry + "]", ".yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := parseServices([]byte(tt.raw), tt.ext)
			require.NoError(t, err)
			require.Empty(t, res.Rejected)
			require.Len(t, res.Services, 1)
			require.Equal(t, domain.ServiceKey("99107023037000"), res.Services[0].Key)
		})
	}
	_, err := parseServices([]byte(`{"key": "x"}`), ".json")
	require.ErrorContains(t, err, "want a JSON list of Steckbriefe")
	_, err = parseServices([]byte("key: x\n"), ".yaml")
	require.ErrorContains(t, err, "want a YAML list of Steckbriefe")
	res, err := parseServices([]byte(`[{"key": 99107023037000}, {"key": "99107023037000", "activation_dates": ["1. Januar"]}]`), ".json")
	require.NoError(t, err)
	require.Equal(t, []serviceRejection{
		{Entry: 1, Key: "99107023037000", Reason: `key: want a string, got number (quote it, e.g. "05")`},
		{Entry: 2, Key: "99107023037000", Reason: `timestamp "1. Januar": want RFC 3339, e.g. 2027-01-01T00:00:00+01:00`},
	}, res.Rejected)
}

// TestParseServicesRejectsHostileText: a string of an entry with a NUL, invalid UTF-8, a
// control character or an overlong value rejects that entry, naming the field; the other
// entries are kept (PostgreSQL would refuse the NUL and fail the whole import).
func TestParseServicesRejectsHostileText(t *testing.T) {
	t.Parallel()
	const good = `{"key": "99107023037000", "name": "Wohngeld", "provider": "SH", "fachverfahren": ["OK.SOZIUS"], "transports": ["fit-connect"], "submission_schemas": [{"schema_uri": "urn:x:w", "mime_type": "application/json"}]}`
	for _, tt := range []struct{ name, bad, ext, want string }{
		{"nul", `"Wohn\u0000geld"`, ".json", "name: contains a NUL character"},
		{"invalid utf-8", "\"Wohn\xffgeld\"", ".json", "name: not valid UTF-8"},
		{"escape", `"Wohn\u001bgeld"`, ".json", "name: contains the control character U+001B"},
		{"too long", `"` + strings.Repeat("W", 501) + `"`, ".json", "name: longer than 500 characters"},
		{"nul in yaml", `"Wohn\u0000geld"`, ".yaml", "name: contains a NUL character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := strings.Replace(strings.Replace(good, `"Wohngeld"`, tt.bad, 1), "99107023037000", "99050012104000", 1)
			res, err := parseServices([]byte("["+good+","+bad+"]"), tt.ext)
			require.NoError(t, err)
			require.Equal(t, []serviceRejection{{Entry: 2, Key: "99050012104000", Reason: tt.want}}, res.Rejected)
			require.Len(t, res.Services, 1)
		})
	}
}

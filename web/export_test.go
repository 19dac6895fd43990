package web

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/starter"
)

// readCSV checks the export's frame (a download, UTF-8 with a byte order mark for German
// Excel, semicolons) and returns its rows without the header.
func readCSV(t *testing.T, resp *http.Response, body string) [][]string {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="rollins.csv"`, resp.Header.Get("Content-Disposition"))
	rest, bom := strings.CutPrefix(body, "\uFEFF")
	require.True(t, bom, "starts with a byte order mark")
	r := csv.NewReader(strings.NewReader(rest))
	r.Comma = ';'
	rows, err := r.ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	require.Equal(t, []string{"ARS", "Gemeinde", "Leistungsschlüssel", "Dienst", "Zustand", "Phase", "Wartet auf", "Schritt", "Begonnen", "Stand"}, rows[0])
	return rows[1:]
}

// TestCSVExport: the export holds every run the role may list and the filter keeps, not
// only the first page; names a spreadsheet would run as formulas are defused; times are
// Berlin's.
func TestCSVExport(t *testing.T) {
	arsOf := func(rows [][]string) []string {
		var ars []string
		for _, r := range rows {
			ars = append(ars, r[0])
		}
		return ars
	}
	for _, tc := range []struct {
		role, query string
		want        []string
	}{
		{pm, "", []string{ownARS, ownARS, otherARS, koelnARS, flensARS, formulaARS}},
		{operator, "", []string{ownARS, ownARS, otherARS, koelnARS, flensARS, formulaARS}},
		{municipality, "", []string{ownARS, ownARS}},
		{pm, "?service=" + hundesteuer, []string{ownARS, flensARS, formulaARS}},
		{pm, "?state=waiting&land=05", []string{ownARS, ownARS, otherARS}},
		{pm, "?state=incident&ab=9999", []string{koelnARS}}, // the list's cursor is no part of the export
		{municipality, "?ars=" + otherARS, []string{ownARS, ownARS}},
	} {
		fx := newPages(t)
		fx.fake.pageSize = 2 // the export reads the list page by page
		resp, body := fx.do(tc.role, http.MethodGet, "/rollins.csv"+tc.query, nil)
		rows := readCSV(t, resp, body)
		require.Equal(t, tc.want, arsOf(rows), "%s %s", tc.role, tc.query)
	}

	fx := newPages(t)
	resp, body := fx.do(pm, http.MethodGet, "/rollins.csv", nil)
	rows := readCSV(t, resp, body)
	require.Equal(t, []string{ownARS, "Münster", wohngeld, "Wohngeld", "wartet", "Vereinbarung", "Kommune: Vereinbarung unterzeichnen", "framework-agreement", "2026-11-03 10:00", "2026-11-13 10:00"}, rows[0])
	require.Equal(t, []string{flensARS, "Flensburg", hundesteuer, "Hundesteuer", "live", "Go-live", "", "", "2026-11-03 10:00", "2026-11-28 10:00"}, rows[4])
	require.Equal(t, "'=SUMME(A1) Stadt", rows[5][1], "a formula is quoted")
}

// TestCSVExportCutOff: an export whose later page fails drops the connection rather than
// end as a short file a spreadsheet would take as complete; one whose first page fails is
// an error page.
func TestCSVExportCutOff(t *testing.T) {
	fx := newPages(t)
	fx.fake.pageSize, fx.fake.failListAt = 2, 2
	fx.fake.failList = &starter.Error{Kind: starter.KindUnavailable, Msg: "read model", Err: errors.New("connection reset")}
	require.PanicsWithValue(t, http.ErrAbortHandler, func() { fx.do(pm, http.MethodGet, "/rollins.csv", nil) })

	fx = newPages(t)
	fx.fake.failListAt = 1
	fx.fake.failList = &starter.Error{Kind: starter.KindUnavailable, Msg: "read model", Err: errors.New("connection reset")}
	resp, body := fx.do(pm, http.MethodGet, "/rollins.csv", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	requireBody(t, body, []string{"Ein System dahinter antwortet gerade nicht."}, []string{"connection reset", "read model"})
}

// TestCoveragePage: the chart and its table by Land, or by Kreis of one Land; the first
// service of the catalogue when none is chosen; a municipality is refused the page, the
// chart alone and the starter's figures alike.
func TestCoveragePage(t *testing.T) {
	fx := newPages(t)
	resp, body := fx.do(pm, http.MethodGet, "/abdeckung", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	requireBody(t, body, []string{
		`<option value="99107023037000" selected>Wohngeld</option>`, "Abdeckung von Wohngeld je Land",
		`<th scope="row">Nordrhein-Westfalen</th><td>4</td><td>1</td><td>0</td><td>2</td><td>0</td><td>0</td><td>0</td><td>1</td>`,
		`<th scope="row">Schleswig-Holstein</th><td>2</td><td>1</td>`,
	}, nil)

	fx.fake.coverage[0].Key, fx.fake.coverage[0].Name = "05515", "Münster"
	resp, body = fx.do(operator, http.MethodGet, "/abdeckung?service="+hundesteuer+"&land=05", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	requireBody(t, body, []string{
		`<option value="99083001000000" selected>Hundesteuer</option>`, `<option value="05" selected>Nordrhein-Westfalen (je Kreis)</option>`,
		"Abdeckung von Hundesteuer je Kreis in Nordrhein-Westfalen", `<th scope="col">Kreis</th>`, `<th scope="row">Münster</th>`,
	}, nil)

	resp, body = fx.do(pm, http.MethodGet, "/abdeckung.svg?service="+wohngeld+"&land=05", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "image/svg+xml; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `inline; filename="abdeckung.svg"`, resp.Header.Get("Content-Disposition"))
	require.True(t, strings.HasPrefix(body, "<?xml") && strings.HasSuffix(body, "</svg>"), body)

	resp, body = fx.do(pm, http.MethodGet, "/abdeckung?service=99999999999000", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)

	fx.fake.coverage = nil
	resp, body = fx.do(pm, http.MethodGet, "/abdeckung", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	requireBody(t, body, []string{"Keine Daten."}, []string{"<svg"})

	before := fx.fake.callsOf("Coverage")
	for _, path := range []string{"/abdeckung", "/abdeckung.svg", "/abdeckung?service=" + wohngeld + "&land=05"} {
		resp, body := fx.do(municipality, http.MethodGet, path, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), path)
		requireBody(t, body, []string{forbiddenPage}, []string{"<svg", "Nordrhein-Westfalen"}, path)
	}
	require.Equal(t, before, fx.fake.callsOf("Coverage"), "the pages refuse a municipality before asking for figures")
}

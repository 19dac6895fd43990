package register_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/register"
)

// TestParseRejectsHostileText: a field with a NUL, invalid UTF-8, a control character or
// an overlong value is rejected with its line and column; the other rows are kept, and
// nothing of the bad row is (PostgreSQL would refuse the NUL and fail the whole import).
func TestParseRejectsHostileText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"nul", "Flens\x00burg", "gemeindename: contains a NUL character"},
		{"invalid utf-8", "Flens\xffburg", "gemeindename: not valid UTF-8"},
		{"escape", "Flens\x1b[2Jburg", "gemeindename: contains the control character U+001B"},
		{"too long", strings.Repeat("F", 501), "gemeindename: longer than 500 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(flensburgGemeinde, `"Flensburg, Stadt"`, `"`+tc.value+`"`, 1)
			bad = strings.Replace(bad, ",000,", ",001,", 1) // another ARS, so only the text differs
			res, err := register.Parse(strings.NewReader(header + flensburgKreis + flensburgGemeinde + bad))
			require.NoError(t, err)
			require.Equal(t, []register.Rejection{{Line: 4, Reason: tc.want}}, res.Rejected)
			require.Len(t, res.Municipalities, 1)
			require.Equal(t, "Flensburg, Stadt", res.Municipalities[0].Name)
		})
	}
}

// TestParseKreiseRejectsHostileText is the same for the Kreis list.
func TestParseKreiseRejectsHostileText(t *testing.T) {
	t.Parallel()
	const head = "AGS;type;name;NUTS3;population\n"
	res, err := register.ParseKreise(strings.NewReader(head + "01001;Kreisfreie Stadt;Flensburg;DEF01;90164\n" +
		"01002;Kreisfreie Stadt;Kiel\x00;DEF02;246601\n"))
	require.NoError(t, err)
	require.Equal(t, []register.Rejection{{Line: 3, Reason: "name: contains a NUL character"}}, res.Rejected)
	require.Len(t, res.Kreise, 1)
}

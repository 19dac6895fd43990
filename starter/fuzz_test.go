package starter

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/store"
)

// The vocabulary of the runs list's filters as the API documents it, written out here so
// that the test does not take checkRunFilter's own lists as the truth.
var (
	fuzzStates = []string{"running", "waiting", "incident", "blocked", "live", "cancelled"}
	fuzzStages = []string{"pruefung", "vereinbarung", "anbindung", "test", "golive"}
	fuzzSteps  = []string{
		"precheck", "framework-agreement", "call-off", "dpa", "countersign", "file-agreement",
		"connection-data", "destination", "portal-link", "routing", "dvdv", "payment", "tenant",
		"test-submission", "test-confirmation", "activation-date", "production-switch",
		"portal-live", "announcement",
	}
	fuzzDigits = map[int]*regexp.Regexp{
		2: regexp.MustCompile(`\A[0-9]{2}\z`), 5: regexp.MustCompile(`\A[0-9]{5}\z`),
		12: regexp.MustCompile(`\A[0-9]{12}\z`), 14: regexp.MustCompile(`\A[0-9]{14}\z`),
	}
)

// digitsOf reports whether s is exactly n ASCII digits (n one of 2, 5, 12, 14).
func digitsOf(s string, n int) bool { return fuzzDigits[n].MatchString(s) }

// FuzzRunFilter fuzzes every field of the runs list's filter through checkRunFilter, the
// one check between GET /api/v1/rollins's query and the SQL that the API leaves to the
// starter. A refused filter must say which parameter is wrong, or the caller cannot fix
// the request; an accepted one must hold only well-shaped values, or a misspelt filter
// silently matches nothing. Properties:
//   - the filter is refused exactly when some field is malformed (an empty field is no
//     filter; state, stage and step from their known lists; service 14, land 2, kreis 5
//     and ars 12 ASCII digits; limit 0, the default, to 1000);
//   - a refusal is a KindInvalid (HTTP 400) whose message starts with "<field>: ", names
//     a field that is indeed malformed, and quotes its value.
func FuzzRunFilter(f *testing.F) {
	f.Add("waiting", "anbindung", "99107023037000", "05", "05515", "055150000000", "tenant", 50)
	f.Add("", "", "", "", "", "", "", 0)
	f.Add("live", "golive", "", "", "", "", "announcement", 1000)
	f.Add("Waiting", "", "", "", "", "", "", 0)
	f.Add("", "Anbindung ", "", "", "", "", "", 0)
	f.Add("", "", "9910702303700", "", "", "", "", 0)
	f.Add("", "", "", "5", "", "", "", 0)
	f.Add("", "", "", "", "0551５", "", "", 0)
	f.Add("", "", "", "", "", " 055150000000", "", 0)
	f.Add("", "", "", "", "", "", "tennant", 0)
	f.Add("", "", "", "", "", "", "", -1)
	f.Add("", "", "", "", "", "", "", 1001)
	f.Add("bogus", "bogus", "x", "x", "x", "x", "x", -5)
	f.Fuzz(func(t *testing.T, state, stage, service, land, kreis, ars, step string, limit int) {
		filter := store.RunFilter{State: state, Stage: stage, Service: service, Land: land, Kreis: kreis, ARS: ars, Step: step, Limit: limit}
		malformed := map[string]string{} // field → its value as the message quotes it
		for _, c := range []struct {
			field, value string
			ok           bool
		}{
			{"state", state, state == "" || slices.Contains(fuzzStates, state)},
			{"stage", stage, stage == "" || slices.Contains(fuzzStages, stage)},
			{"service", service, service == "" || digitsOf(service, 14)},
			{"land", land, land == "" || digitsOf(land, 2)},
			{"kreis", kreis, kreis == "" || digitsOf(kreis, 5)},
			{"ars", ars, ars == "" || digitsOf(ars, 12)},
			{"step", step, step == "" || slices.Contains(fuzzSteps, step)},
		} {
			if !c.ok {
				malformed[c.field] = strconv.Quote(c.value)
			}
		}
		if limit < 0 || limit > 1000 {
			malformed["limit"] = strconv.Itoa(limit)
		}

		err := checkRunFilter(filter)
		if len(malformed) == 0 {
			require.NoError(t, err, "a well-formed filter was refused: %+v", filter)
			return
		}
		require.Error(t, err, "a malformed filter was accepted: %+v (malformed: %v)", filter, malformed)
		require.Equal(t, KindInvalid, KindOf(err), "refusal %q of %+v", err, filter)
		field, _, ok := strings.Cut(err.Error(), ": ")
		require.True(t, ok, "refusal %q does not start with the field", err)
		value, isMalformed := malformed[field]
		require.True(t, isMalformed, "refusal %q names %q, which is not a malformed field of %+v (malformed: %v)", err, field, filter, malformed)
		require.Contains(t, err.Error(), value, "refusal %q does not quote the value of %s", err, field)
	})
}

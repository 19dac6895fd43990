package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
)

// steckbriefExts are the extensions FuzzSteckbriefImport picks from: the three that name
// a format and two that let the content decide.
var steckbriefExts = []string{".json", ".yaml", ".yml", "", ".txt"}

// problemWords are the words of which a rejection's reason must contain one (in any
// case): the Steckbrief field at fault (as the file or Validate names it), or the kind of
// problem that concerns the entry as a whole.
var problemWords = []string{
	"key", "name", "provider", "fachverfahren", "transport", "payment_required",
	"user_account_required", "dpa_required", "land", "activation_dates", "timestamp", "costs",
	"contacts", "role", "email", "organisation", "submission_schemas", "schema_uri", "mime_type",
	"unknown field", "mapping", "duplicate of entry",
}

// FuzzSteckbriefImport feeds `rollin services import`'s parser arbitrary files in every
// format. The import writes what the parser accepts into the catalogue and prints a line
// "entry N (key K): reason" for each entry it rejects, so the parser must never panic,
// lose an entry, let a malformed Steckbrief through or report a rejection nobody can act
// on. Properties:
//   - parsing is deterministic: the same bytes give the same result;
//   - an error (a file that is not a list) comes with nothing parsed;
//   - every entry of the list is either accepted or rejected, in file order;
//   - every rejection names its entry (its 1-based position; the key as written when the
//     entry has a string key, else a non-empty stand-in) and a non-empty reason that names
//     the field or problem;
//   - a "duplicate of entry M" names an earlier accepted entry with the same key;
//   - every accepted service passes domain.Service.Validate, carries its key in canonical
//     form (as ParseServiceKey returns it: the catalogue, the store and run IDs use it as
//     is) and no key twice, and survives the round trip through the JSON format unchanged.
func FuzzSteckbriefImport(f *testing.F) {
	const good = `{"key": "99107023037000", "name": "Wohngeld", "provider": "SH", "fachverfahren": ["OK.SOZIUS"], "transports": ["fit-connect"], "lands": ["01"], "activation_dates": ["2027-01-01T00:00:00+01:00"], "submission_schemas": [{"schema_uri": "urn:x:wohngeld", "mime_type": "application/json"}], "contacts": [{"role": "PL", "name": "Büro", "email": "a@example.org"}]}`
	for _, s := range []struct {
		ext uint8
		raw string
	}{
		{0, "[" + good + "]"},
		{0, "[" + good + ", " + good + ", 5, null, {\"key\": 99107023037000}, {\"KEY\": \"99107023037000\"}]"},
		{0, `[{"key": "99050012104000", "name": "x", "provider": "y", "fachverfahren": ["z"], "transports": ["fax"]}]`},
		{0, `[{"key": "99050012104000", "activation_dates": ["1. Januar"]}, {"key": "9", "contacts": [{"mail": "x"}]}]`},
		{0, `{"key": "x"}`},
		{1, badServices},
		{1, "- key: \"99107023037000\"\n  name: Wohngeld\n  provider: SH\n  fachverfahren: [OK.SOZIUS]\n  transports: [fit-connect]\n  activation_dates: [2027-01-01T00:00:00+01:00]\n"},
		{2, "- &a {key: \"99107023037000\", name: W, provider: P, fachverfahren: [F], transports: [xta]}\n- *a\n- {<<: *a, key: \"99107023037001\"}\n"},
		{2, "- key: 1.5e3\n- {1: x}\n- key: .nan\n- !!binary aGVsbG8=\n- ~\n"},
		{3, "\ufeff [" + good + "]"},
		{3, "key: x\n"},
		{4, "- [1, 2]\n- 'a'\n"},
		{0, ""}, {1, ""},
	} {
		f.Add(s.ext, []byte(s.raw))
	}
	f.Fuzz(func(t *testing.T, extPick uint8, raw []byte) {
		ext := steckbriefExts[int(extPick)%len(steckbriefExts)]
		res, err := parseServices(raw, ext)
		again, errAgain := parseServices(raw, ext)
		require.Equal(t, err, errAgain, "parsing is not deterministic")
		require.Equal(t, res, again, "parsing is not deterministic")
		if err != nil {
			require.Regexp(t, `^want a (JSON|YAML) list of Steckbriefe: `, err.Error())
			require.Empty(t, res.Services, "an error and services")
			require.Empty(t, res.Rejected, "an error and rejections")
			return
		}
		entries, err := splitEntries(raw, ext)
		require.NoError(t, err)
		require.Len(t, entries, len(res.Services)+len(res.Rejected), "an entry was lost or counted twice")

		accepted := map[int]domain.Service{} // entry number → the service it yielded
		next := 0
		for n := 1; n <= len(entries); n++ {
			if slices.ContainsFunc(res.Rejected, func(r serviceRejection) bool { return r.Entry == n }) {
				continue
			}
			require.Less(t, next, len(res.Services), "entry %d is neither accepted nor rejected", n)
			accepted[n] = res.Services[next]
			next++
		}
		require.Equal(t, len(res.Services), next, "the accepted services are not in file order")

		last := 0
		for _, r := range res.Rejected {
			line := fmt.Sprintf("entry %d (key %s): %s", r.Entry, r.Key, r.Reason)
			require.Greater(t, r.Entry, last, "rejections out of order or repeated: %q", line)
			require.LessOrEqual(t, r.Entry, len(entries), "rejection of no entry: %q", line)
			last = r.Entry
			var members map[string]json.RawMessage
			if json.Unmarshal(entries[r.Entry-1], &members) == nil && strings.HasPrefix(string(members["key"]), `"`) {
				var key string
				require.NoError(t, json.Unmarshal(members["key"], &key))
				require.Equal(t, key, r.Key, "rejection does not name the entry by the key it has: %q", line)
			} else {
				require.NotEmpty(t, strings.TrimSpace(r.Key), "rejection without a key or stand-in: %q", line)
			}
			require.NotEmpty(t, strings.TrimSpace(r.Reason), "rejection without a reason: %q", line)
			require.True(t, containsAnyFold(r.Reason, problemWords), "reason names no field or problem: %q", line)
			var m int
			if _, err := fmt.Sscanf(r.Reason, "duplicate of entry %d", &m); err == nil {
				first, ok := accepted[m]
				require.True(t, ok && m < r.Entry, "%q: entry %d is no earlier accepted entry", line, m)
				var dup domain.Service
				require.NoError(t, json.Unmarshal(entries[r.Entry-1], &dup))
				require.Equal(t, first.Key, dup.Key, "%q: not the same key", line)
			}
		}

		keys := map[domain.ServiceKey]bool{}
		for _, svc := range res.Services {
			require.NoError(t, svc.Validate(), "accepted an invalid Steckbrief: %+v", svc)
			canonical, err := domain.ParseServiceKey(string(svc.Key))
			require.NoError(t, err)
			require.Equal(t, canonical, svc.Key, "accepted key %q is not in canonical form", svc.Key)
			require.False(t, keys[svc.Key], "key %s accepted twice", svc.Key)
			keys[svc.Key] = true
		}
		if len(res.Services) > 0 {
			file, err := json.Marshal(res.Services)
			require.NoError(t, err)
			round, err := parseServices(file, ".json")
			require.NoError(t, err)
			require.Empty(t, round.Rejected, "accepted services do not import again: %s", file)
			back, err := json.Marshal(round.Services)
			require.NoError(t, err)
			require.JSONEq(t, string(file), string(back), "accepted services change on the round trip")
		}
	})
}

// containsAnyFold reports whether s contains one of words, ignoring case.
func containsAnyFold(s string, words []string) bool {
	lower := strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

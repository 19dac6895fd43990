package textrule

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestLineAndText(t *testing.T) {
	for _, tc := range []struct {
		name, s   string
		multiline bool
		want      string
	}{
		{"plain", "Münster 1", false, ""},
		{"nul", "a\x00b", false, "reason: contains a NUL character"},
		{"nul in text", "a\x00b", true, "reason: contains a NUL character"},
		{"invalid utf-8", "a\xffb", true, "reason: not valid UTF-8"},
		{"escape", "a\x1b[31m", true, "reason: contains the control character U+001B"},
		{"c1 control", "a\u0085", true, "reason: contains the control character U+0085"},
		{"line break in a line", "a\nb", false, "reason: contains the control character U+000A"},
		{"line break in text", "a\r\n\tb", true, ""},
		{"right-to-left override", "Admin\u202efdp.exe", false, "reason: contains the invisible formatting character U+202E"},
		{"isolate in text", "a\u2066b", true, "reason: contains the invisible formatting character U+2066"},
		{"zero-width space in a line", "R1\u200b", false, "reason: contains the invisible formatting character U+200B"},
		{"byte-order mark in a line", "\ufeffx", false, "reason: contains the invisible formatting character U+FEFF"},
		{"line separator in a line", "a\u2028b", false, "reason: contains the invisible formatting character U+2028"},
		{"soft hyphen in text", "Wohn\u00adgeld", true, ""},
		{"crlf counts once", strings.Repeat("a\r\n", 5), true, ""},
		{"crlf still counted", strings.Repeat("a\r\n", 5) + "b", true, "reason: longer than 10 characters"},
		{"just long enough", strings.Repeat("ä", 10), true, ""},
		{"too long", strings.Repeat("ä", 11), true, "reason: longer than 10 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := Line
			if tc.multiline {
				check = Text
			}
			err := check("reason", tc.s, 10)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		max            int
	}{
		{"clean stays", "HTTP 500: Fehler\nZeile 2", "HTTP 500: Fehler\nZeile 2", 100},
		{"nul dropped", "a\x00b", "ab", 100},
		{"invalid bytes replaced", "a\xff\xfeb", "a\uFFFDb", 100},
		{"controls dropped", "a\x1b[31mb\u0085", "a[31mb", 100},
		{"bidi controls dropped", "x\u202eexe.pdf\u2069", "xexe.pdf", 100},
		{"cut with marker", strings.Repeat("x", 51), strings.Repeat("x", 50-utf8.RuneCountInString(Truncated)) + Truncated, 50},
		{"cut on a rune boundary", strings.Repeat("ü", 30), strings.Repeat("ü", 20-utf8.RuneCountInString(Truncated)) + Truncated, 20},
		{"tiny max", "abcdef", "abc", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clean(tc.in, tc.max)
			require.Equal(t, tc.want, got)
			require.True(t, utf8.ValidString(got))
			require.NoError(t, Text("x", got, tc.max))
		})
	}
}

func TestJSONStrings(t *testing.T) {
	raw := []byte(`{"a":"x","b":{"c":["y","\u0000"],"d":1},"e":"` + "\xff" + `"}`)
	type seen struct {
		path, s string
		valid   bool
	}
	var got []seen
	require.NoError(t, JSONStrings(raw, "data", func(path, s string, valid bool) error {
		got = append(got, seen{path, s, valid})
		return nil
	}))
	require.Equal(t, []seen{
		{"data.a", "a", true}, {"data.a", "x", true},
		{"data.b", "b", true}, {"data.b.c", "c", true}, {"data.b.c[0]", "y", true}, {"data.b.c[1]", "\x00", true},
		{"data.b.d", "d", true},
		{"data.e", "e", true}, {"data.e", "\uFFFD", false},
	}, got)
}

// FuzzClean holds Clean to its promise for any input: the result passes Text.
func FuzzClean(f *testing.F) {
	f.Add("a\x00b\xff", 10)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%5000 + 20
		if max < 20 {
			max += 5000
		}
		require.NoError(t, Text("x", Clean(s, max), max))
	})
}

func TestDecodeError(t *testing.T) {
	type data struct {
		Received *bool    `json:"received"`
		Note     string   `json:"note"`
		Tags     []string `json:"tags"`
		Inner    struct {
			N int `json:"n"`
		} `json:"inner"`
	}
	for _, tc := range []struct {
		prefix, body, want string
	}{
		{"data", `{"received":"yes"}`, "data.received: want true or false, not a string"},
		{"data", `{"note":1.5}`, "data.note: want a string, not a number"},
		{"data", `{"tags":{}}`, "data.tags: want a list, not an object"},
		{"data", `{"inner":{"n":true}}`, "data.inner.n: want a number, not true or false"},
		{"data", `[]`, "data: want an object, not a list"},
		{"", `{"note":[]}`, "note: want a string, not a list"},
		{"", `{"x":1}`, `request body: unknown field "x"`},
	} {
		dec := json.NewDecoder(strings.NewReader(tc.body))
		dec.DisallowUnknownFields()
		var d data
		err := dec.Decode(&d)
		require.Error(t, err, tc.body)
		require.EqualError(t, DecodeError(tc.prefix, err), tc.want, tc.body)
	}
}

// Package textrule holds the rules every string that enters Rollin must keep, and the
// cleaning of text that comes from systems Rollin does not control.
//
// PostgreSQL refuses a text value with a NUL character or invalid UTF-8; a run whose
// audit row is refused cannot record its transition. So strings from people (API bodies
// and query parameters, page forms, the CLI, imported files) are checked once where they
// enter and refused with a message naming the field and the rule, and text from external
// systems (error bodies of provider, Land, municipality and FIT-Connect calls) is cleaned
// and truncated instead, because refusing it would refuse the system's answer itself.
package textrule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits per kind of field, in characters (runes). They are generous for what
// each field holds and small enough that a page rendering a run stays readable.
const (
	// MaxID bounds identifiers: action IDs, run, campaign and service keys, step names.
	MaxID = 200
	// MaxName bounds names and short values: Fachverfahren, organisation unit IDs, DVDV
	// keys, IBANs, Land and Kreis keys, actor names.
	MaxName = 200
	// MaxReason bounds reasons and notes people write (free text, line breaks allowed).
	MaxReason = 2000
	// MaxEmail bounds an e-mail address (RFC 5321's path limit).
	MaxEmail = 254
	// MaxAddress bounds a postal address (free text, line breaks allowed).
	MaxAddress = 500
	// MaxQuery bounds a search query.
	MaxQuery = 100
	// MaxCursor bounds a paging cursor (it is a run ID or an ARS).
	MaxCursor = 200
	// MaxData bounds the JSON data of an action, in bytes.
	MaxData = 16 << 10
	// MaxExternal bounds text from an external system kept in the read model (an error
	// body in last_error and the audit log); longer text is cut by Clean.
	MaxExternal = 2000
	// MaxImportText bounds a text field of an imported register or catalogue entry.
	MaxImportText = 500
)

// Truncated is appended by Clean to text it had to cut.
const Truncated = " …[gekürzt]"

// Line checks a single-line value: valid UTF-8, no control character at all (no NUL, no
// line break) and at most max characters. The error names field and rule.
func Line(field, s string, max int) error { return check(field, s, max, false) }

// Text checks free text: like Line, but line breaks (\n, \r) and tabs are kept, and a CR LF
// pair counts as one character.
func Text(field, s string, max int) error { return check(field, s, max, true) }

func check(field, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", field)
	}
	n, prev := 0, rune(0)
	for _, r := range s {
		if r != '\n' || prev != '\r' {
			n++ // a browser sends a textarea's line breaks as CR LF: one line break, one character
		}
		prev = r
		switch {
		case r == 0:
			return fmt.Errorf("%s: contains a NUL character", field)
		case multiline && (r == '\n' || r == '\r' || r == '\t'):
		case unicode.IsControl(r):
			return fmt.Errorf("%s: contains the control character %U", field, r)
		case isBidiControl(r) || (!multiline && invisibleInLine(r)):
			return fmt.Errorf("%s: contains the invisible formatting character %U", field, r)
		}
	}
	if n > max {
		return fmt.Errorf("%s: longer than %d characters", field, max)
	}
	return nil
}

// isBidiControl reports the characters that reorder how text around them is shown (the
// Unicode bidirectional embeddings, overrides, isolates and marks): refused everywhere,
// because they make a name, an ID or a reason read as something it is not ("Trojan
// Source", CVE-2021-42574).
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') ||
		r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// invisibleInLine reports the other invisible characters (format characters such as
// zero-width spaces, joiners, soft hyphens and the byte-order mark; line and paragraph
// separators) that have no place in a single-line value: two IDs or names that differ only
// in them look the same. Free text may keep them (a soft hyphen pasted from a document).
func invisibleInLine(r rune) bool {
	return unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// Clean makes text from an external system safe to store and show: invalid bytes become
// U+FFFD, NUL, bidirectional controls and control characters other than line breaks and
// tabs are dropped, and text
// longer than max characters is cut on a character boundary, ending in Truncated. It never
// refuses: the text is what another system said, and losing it would lose the diagnosis.
func Clean(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.ValidString(s) && cleanAlready(s, max) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if dropped(r) {
			continue
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if n <= max {
		return out
	}
	marker := []rune(Truncated)
	keep := max - len(marker)
	if keep < 0 {
		return string([]rune(out)[:max])
	}
	return string([]rune(out)[:keep]) + Truncated
}

// dropped reports the characters Clean leaves out.
func dropped(r rune) bool {
	return (r != '\n' && r != '\r' && r != '\t' && unicode.IsControl(r)) || isBidiControl(r)
}

// cleanAlready reports whether valid UTF-8 s needs no change, so that Clean does not copy
// the common case.
func cleanAlready(s string, max int) bool {
	n := 0
	for _, r := range s {
		n++
		if n > max || dropped(r) {
			return false
		}
	}
	return true
}

// JSONStrings calls visit for every string in the JSON value raw, keys and values, with
// its path (prefix, then ".key" or "[i]"; a key's own path ends in its name) and whether
// its bytes as sent are valid UTF-8. encoding/json replaces invalid bytes with U+FFFD
// while decoding, so the check must look at the raw text. raw must be one valid JSON value.
func JSONStrings(raw []byte, prefix string, visit func(path, s string, validUTF8 bool) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		object bool
		key    string
		index  int
		// wantKey: in an object, the next string is a key.
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		b.WriteString(prefix)
		for _, f := range stack {
			if f.object {
				if f.key != "" {
					if b.Len() > 0 {
						b.WriteByte('.')
					}
					b.WriteString(f.key)
				}
			} else {
				fmt.Fprintf(&b, "[%d]", f.index)
			}
		}
		return b.String()
	}
	// after advances the enclosing frame past one complete value.
	after := func() {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		if top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		end := dec.InputOffset()
		span := raw[prev:end]
		prev = end
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				after()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = t, false
				if err := visit(path(), t, utf8.Valid(span)); err != nil {
					return err
				}
				continue
			}
			if err := visit(path(), t, utf8.Valid(span)); err != nil {
				return err
			}
			after()
		default:
			after()
		}
	}
}

// DecodeError words an error of encoding/json's decoder for the person who sent the JSON
// value named prefix ("data"; "" for a request body, whose fields are named alone): a value
// of the wrong type names its field and what it should be ("data.received: want true or
// false, not a string") instead of a Go struct's; other errors keep the decoder's words.
func DecodeError(prefix string, err error) error {
	whole := prefix
	if whole == "" {
		whole = "request body"
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Type != nil {
		path := whole
		if typ.Field != "" {
			path = strings.TrimPrefix(prefix+"."+typ.Field, ".")
		}
		got := typ.Value
		if f := strings.Fields(got); len(f) > 0 {
			got = f[0]
		}
		return fmt.Errorf("%s: want %s, not %s", path, jsonKindOf(typ.Type), jsonKindNames[got])
	}
	return fmt.Errorf("%s: %s", whole, strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKindNames are the names of JSON's kinds of value as a caller reads them.
var jsonKindNames = map[string]string{
	"string": "a string", "number": "a number", "bool": "true or false", "array": "a list", "object": "an object",
}

// jsonKindOf names the JSON kind of value a Go type takes.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	}
	return "an object"
}

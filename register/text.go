package register

import (
	"fmt"
	"slices"

	"github.com/rollin-efa/rollin/textrule"
)

// columnNames copies a header row for naming fields in rejections (the CSV reader may
// reuse the row's storage), cleaned so that a rejection can print them.
func columnNames(header []string) []string {
	names := slices.Clone(header)
	for i, n := range names {
		names[i] = textrule.Clean(n, textrule.MaxName)
		if names[i] == "" {
			names[i] = fmt.Sprintf("column %d", i+1)
		}
	}
	return names
}

// badField returns why the first field of rec breaks the rules for text that enters
// Rollin (valid UTF-8, no control characters, at most textrule.MaxImportText characters),
// naming its column, or "" when every field keeps them. A register row is one line of
// text, so no field may hold a line break either.
func badField(rec, names []string) string {
	for i, v := range rec {
		name := fmt.Sprintf("column %d", i+1)
		if i < len(names) {
			name = names[i]
		}
		if err := textrule.Line(name, v, textrule.MaxImportText); err != nil {
			return err.Error()
		}
	}
	return ""
}

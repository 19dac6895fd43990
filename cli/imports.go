package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/logging"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
)

// ImportCommands returns `municipalities import` and `services import`, which load the
// register and the catalogue from files straight into the database named by the
// configuration (database.url; flags of config.AddFlags). They need no running API.
// Both import every valid entry, report each rejected one and, with --strict, write
// nothing when any entry is rejected.
func ImportCommands() []*cobra.Command {
	return []*cobra.Command{municipalitiesCommand(), servicesCommand()}
}

func municipalitiesCommand() *cobra.Command {
	var kreiseFile string
	var strict bool
	imp := &cobra.Command{
		Use:   "import FILE [--kreise FILE] [--strict]",
		Short: "Import the Destatis Gemeindeverzeichnis (CSV) and optionally the Kreis list",
		Long: `Import the Destatis Gemeindeverzeichnis (CSV export, record types 10-60) into the
register: new municipalities are added, changed ones updated, identical ones left alone.
--kreise also imports the Destatis Kreis list (semicolon-separated: AGS;type;name;...)
into the Land/Kreis hierarchy. Rejected lines are listed as "line N: reason"; the valid
rows are imported unless --strict is given, which writes nothing when any line is rejected.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := LoadConfig(cmd)
			if err != nil {
				return err
			}
			reg, err := parseFile(args[0], register.Parse)
			if err != nil {
				return err
			}
			var kreise register.KreisResult
			if kreiseFile != "" {
				if kreise, err = parseFile(kreiseFile, register.ParseKreise); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			for _, r := range reg.Rejected {
				fmt.Fprintf(out, "line %d: %s\n", r.Line, r.Reason)
			}
			for _, r := range kreise.Rejected {
				fmt.Fprintf(out, "Kreis list line %d: %s\n", r.Line, r.Reason)
			}
			if rejected := len(reg.Rejected) + len(kreise.Rejected); strict && rejected > 0 {
				return fmt.Errorf("%d line(s) rejected; nothing imported (--strict)", rejected)
			}

			ctx := cmdContext(cmd)
			st, err := store.Open(ctx, cfg.Database.URL, log.Named("store"))
			if err != nil {
				return err
			}
			defer st.Close()
			counts, err := st.UpsertMunicipalities(ctx, reg.Municipalities)
			if err != nil {
				return err
			}
			printCounts(out, "municipalities", counts, len(reg.Rejected))
			if kreiseFile != "" {
				ks := make([]store.Kreis, len(kreise.Kreise))
				for i, k := range kreise.Kreise {
					ks[i] = store.Kreis{Key: k.Key, Name: k.Name, Type: k.Type}
				}
				counts, err := st.UpsertKreise(ctx, ks)
				if err != nil {
					return err
				}
				printCounts(out, "Kreise", counts, len(kreise.Rejected))
			}
			return nil
		},
	}
	imp.Flags().StringVar(&kreiseFile, "kreise", "", "Destatis Kreis list (CSV) to import into the Land/Kreis hierarchy")
	imp.Flags().BoolVar(&strict, "strict", false, "write nothing if any line is rejected")
	config.AddFlags(imp.Flags())
	parent := &cobra.Command{Use: "municipalities", Short: "The municipality register"}
	parent.AddCommand(imp)
	return parent
}

func servicesCommand() *cobra.Command {
	var strict bool
	imp := &cobra.Command{
		Use:   "import FILE [--strict]",
		Short: "Import EfA-Steckbriefe from a YAML or JSON file into the catalogue",
		Long: `Import a list of EfA-Steckbriefe (YAML or JSON, told by the extension .yaml, .yml
or .json, else by the content) into the catalogue. Fields carry the names of the API's
service objects (key, name, provider, fachverfahren, transports, payment_required, ...).
Each entry is validated; rejected ones are listed as "entry N (key K): reason" and the
valid ones imported, unless --strict is given, which writes nothing when any is rejected.
In YAML, quote Leistungsschlüssel and Land keys ("05"), or they become numbers.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := LoadConfig(cmd)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read Steckbriefe: %w", err)
			}
			res, err := parseServices(raw, filepath.Ext(args[0]))
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			for _, r := range res.Rejected {
				fmt.Fprintf(out, "entry %d (key %s): %s\n", r.Entry, r.Key, r.Reason)
			}
			if strict && len(res.Rejected) > 0 {
				return fmt.Errorf("%d entry(s) rejected; nothing imported (--strict)", len(res.Rejected))
			}
			ctx := cmdContext(cmd)
			st, err := store.Open(ctx, cfg.Database.URL, log.Named("store"))
			if err != nil {
				return err
			}
			defer st.Close()
			counts, err := st.ImportServices(ctx, res.Services)
			if err != nil {
				return err
			}
			printCounts(out, "services", counts, len(res.Rejected))
			return nil
		},
	}
	imp.Flags().BoolVar(&strict, "strict", false, "write nothing if any entry is rejected")
	config.AddFlags(imp.Flags())
	parent := &cobra.Command{Use: "services", Short: "The catalogue of EfA-Steckbriefe"}
	parent.AddCommand(imp)
	return parent
}

// LoadConfig loads the configuration from the command's flags, file and environment (a
// bad value is a *config.KeyError: exit 2) over the built-in defaults and the command's
// own (config.DevDefaults for `rollin-dev`), and builds the logger: what every command
// that talks to the database or Temporal directly starts with (imports, dev, worker,
// serve).
func LoadConfig(cmd *cobra.Command, commandDefaults ...map[string]any) (config.Config, *zap.Logger, error) {
	cfg, err := config.Load(cmd.Flags(), commandDefaults...)
	if err != nil {
		return config.Config{}, nil, err
	}
	log, err := logging.New(cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, log, nil
}

// parseFile opens name and parses it with parse.
func parseFile[T any](name string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(name) // #nosec G304 -- the file the user named on the command line, read with the user's rights
	if err != nil {
		return zero, err
	}
	defer f.Close()
	res, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

func printCounts(w io.Writer, what string, c store.ImportCounts, rejected int) {
	fmt.Fprintf(w, "%s: %d new, %d changed, %d unchanged, %d rejected\n", what, c.New, c.Changed, c.Unchanged, rejected)
}

// serviceRejection is a Steckbrief of an import file that was not imported.
type serviceRejection struct {
	Entry  int    `json:"entry"` // 1-based position in the file's list
	Key    string `json:"key"`   // the entry's key as written, "?" when it has none
	Reason string `json:"reason"`
}

// serviceImport is what a Steckbrief file yielded: the valid services in file order and
// the rejected entries.
type serviceImport struct {
	Services []domain.Service
	Rejected []serviceRejection
}

// parseServices reads a list of Steckbriefe in YAML or JSON; ext (".yaml", ".yml",
// ".json") names the format, anything else lets the content decide (JSON starts with
// '['). Each entry is decoded on its own with the field names of domain.Service's JSON
// form (unknown fields are refused) and validated with Service.Validate; an entry that
// fails, or repeats an earlier key, becomes a rejection. The error is for a file that is
// not a list at all.
func parseServices(raw []byte, ext string) (serviceImport, error) {
	entries, err := splitEntries(raw, ext)
	if err != nil {
		return serviceImport{}, err
	}
	var (
		res   serviceImport
		first = map[domain.ServiceKey]int{}
	)
	for i, entry := range entries {
		n := i + 1
		key := entryKey(entry)
		reject := func(format string, args ...any) {
			res.Rejected = append(res.Rejected, serviceRejection{Entry: n, Key: key, Reason: fmt.Sprintf(format, args...)})
		}
		dec := json.NewDecoder(bytes.NewReader(entry))
		dec.DisallowUnknownFields()
		var svc domain.Service
		if err := dec.Decode(&svc); err != nil {
			reject("%s", decodeReason(err))
			continue
		}
		// After decoding, so that a bad byte under a key no Steckbrief has is reported as
		// the unknown field it is in.
		if reason := badText(entry); reason != "" {
			reject("%s", reason)
			continue
		}
		if k, err := domain.ParseServiceKey(string(svc.Key)); err == nil {
			svc.Key = k // " 99107023037000" is the same service as "99107023037000"
		}
		if err := svc.Validate(); err != nil {
			reject("%s", err)
			continue
		}
		if m, dup := first[svc.Key]; dup {
			reject("duplicate of entry %d", m)
			continue
		}
		first[svc.Key] = n
		res.Services = append(res.Services, svc)
	}
	return res, nil
}

// splitEntries returns the list's entries, each as JSON.
func splitEntries(raw []byte, ext string) ([]json.RawMessage, error) {
	isJSON := strings.EqualFold(ext, ".json")
	if !isJSON && !strings.EqualFold(ext, ".yaml") && !strings.EqualFold(ext, ".yml") {
		isJSON = bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(raw, []byte("\uFEFF")), " \t\r\n"), []byte("["))
	}
	if isJSON {
		var entries []json.RawMessage
		if err := json.Unmarshal(bytes.TrimPrefix(raw, []byte("\uFEFF")), &entries); err != nil {
			return nil, fmt.Errorf("want a JSON list of Steckbriefe: %w", err)
		}
		return entries, nil
	}
	var doc []any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("want a YAML list of Steckbriefe: %w", err)
	}
	entries := make([]json.RawMessage, len(doc))
	for i, e := range doc {
		b, err := json.Marshal(e)
		if err != nil {
			// Only mappings with non-string keys fail here, e.g. "1: x"; let the entry's
			// decoding report it.
			b = []byte(`"not a mapping of field names"`)
		}
		entries[i] = b
	}
	return entries, nil
}

// badText returns why the first string of an entry (a key or a value) breaks the rules
// for text that enters Rollin, naming its field, or "" when none does. JSON decoding
// would turn invalid UTF-8 into U+FFFD unseen, so the entry's raw text is checked.
func badText(entry json.RawMessage) string {
	var reason string
	_ = textrule.JSONStrings(entry, "", func(path, s string, validUTF8 bool) error {
		if path == "" {
			path = "entry"
		}
		err := textrule.Text(path, s, textrule.MaxImportText)
		if !validUTF8 {
			err = fmt.Errorf("%s: not valid UTF-8", path)
		}
		if err != nil {
			reason = err.Error()
		}
		return err
	})
	return reason
}

// entryKey returns the entry's key field as written (cleaned for printing), or "?".
func entryKey(entry json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(entry, &m) != nil {
		return "?"
	}
	switch k := m["key"].(type) {
	case string:
		return textrule.Clean(k, textrule.MaxID)
	case float64:
		return fmt.Sprintf("%.0f", k)
	}
	return "?"
}

// decodeReason turns a JSON decoding error into a reason naming the field.
func decodeReason(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return fmt.Sprintf("want a mapping of fields, got %s", typeErr.Value)
		}
		reason := fmt.Sprintf("%s: want %s, got %s", typeErr.Field, typeName(typeErr.Type.String()), typeErr.Value)
		if typeErr.Value == "number" && typeErr.Type.Kind().String() == "string" {
			reason += ` (quote it, e.g. "05")`
		}
		return reason
	}
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return fmt.Sprintf("timestamp %q: want RFC 3339, e.g. 2027-01-01T00:00:00+01:00", timeErr.Value)
	}
	if strings.Contains(err.Error(), "Time.UnmarshalJSON") { // a date that is not a string
		return `activation_dates: want RFC 3339 timestamps as strings, e.g. "2027-01-01T00:00:00+01:00"`
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// typeName names Go types in the words of the file's author.
func typeName(goType string) string {
	switch goType {
	case "string", "domain.ServiceKey", "domain.Transport":
		return "a string"
	case "bool":
		return "true or false"
	case "time.Time":
		return "a timestamp"
	}
	if strings.HasPrefix(goType, "[]") {
		return "a list"
	}
	return goType
}

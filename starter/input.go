package starter

import (
	"encoding/json"
	"fmt"

	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
)

// The starter is the one layer every request passes (API, pages, CLI), so the rules of
// package textrule are applied here, once, before anything reaches Temporal or PostgreSQL:
// a NUL character or invalid UTF-8 that reached either would be refused there, and an
// action's audit row refused by PostgreSQL would keep the run from recording it.

// field is one string of a request with the rule it must keep.
type field struct {
	name  string
	value string
	max   int
	text  bool // free text: line breaks and tabs allowed
}

// checkFields refuses the first field that breaks its rule, naming it.
func checkFields(fields ...field) error {
	for _, f := range fields {
		check := textrule.Line
		if f.text {
			check = textrule.Text
		}
		if err := check(f.name, f.value, f.max); err != nil {
			return refuse(KindInvalid, "%s", err)
		}
	}
	return nil
}

// dataLimits are the limits of the known fields of an action's data (the connection
// questionnaire and the test confirmation); any other string in data is a short value.
var dataLimits = map[string]field{
	"data.contact_email":   {max: textrule.MaxEmail},
	"data.contact_address": {max: textrule.MaxAddress, text: true},
	"data.note":            {max: textrule.MaxReason, text: true},
}

// checkAction checks every string of an action, those inside its data too.
func checkAction(a Action) error {
	if err := checkFields(
		field{name: "action", value: a.Name, max: textrule.MaxID},
		field{name: "action_id", value: a.ID, max: textrule.MaxID},
		field{name: "step", value: a.Step, max: textrule.MaxID},
		field{name: "reason", value: a.Reason, max: textrule.MaxReason, text: true},
	); err != nil {
		return err
	}
	return checkData(a.Data)
}

// checkData checks the strings of an action's JSON data, keys and values, each by the
// limit of its field.
func checkData(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if len(raw) > textrule.MaxData {
		return refuse(KindInvalid, "data: longer than %d bytes", textrule.MaxData)
	}
	if !json.Valid(raw) {
		return refuse(KindInvalid, "data: not valid JSON")
	}
	return textrule.JSONStrings(raw, "data", func(path, s string, validUTF8 bool) error {
		if !validUTF8 {
			return refuse(KindInvalid, "%s: not valid UTF-8", path)
		}
		f, ok := dataLimits[path]
		if !ok {
			f = field{max: textrule.MaxName}
		}
		f.name, f.value = path, s
		return checkFields(f)
	})
}

// checkRunFilterText checks the strings of a run filter before their values are checked:
// the cursor goes to PostgreSQL as it is.
func checkRunFilterText(f store.RunFilter) error {
	return checkFields(
		field{name: "state", value: f.State, max: textrule.MaxID},
		field{name: "stage", value: f.Stage, max: textrule.MaxID},
		field{name: "service", value: f.Service, max: textrule.MaxID},
		field{name: "land", value: f.Land, max: textrule.MaxID},
		field{name: "kreis", value: f.Kreis, max: textrule.MaxID},
		field{name: "ars", value: f.ARS, max: textrule.MaxID},
		field{name: "step", value: f.Step, max: textrule.MaxID},
		field{name: "cursor", value: f.Cursor, max: textrule.MaxCursor},
	)
}

// checkMunicipalityFilterText checks the strings of a register search; the query and the
// cursor go to PostgreSQL as they are.
func checkMunicipalityFilterText(f store.MunicipalityFilter) error {
	return checkFields(
		field{name: "land", value: f.Land, max: textrule.MaxID},
		field{name: "kreis", value: f.Kreis, max: textrule.MaxID},
		field{name: "q", value: f.Query, max: textrule.MaxQuery},
		field{name: "cursor", value: f.Cursor, max: textrule.MaxCursor},
	)
}

// checkCampaignRequest checks the strings of a campaign's selection.
func checkCampaignRequest(req CampaignRequest) error {
	fields := []field{
		{name: "service", value: req.Service, max: textrule.MaxID},
		{name: "land", value: req.Land, max: textrule.MaxID},
		{name: "kreis", value: req.Kreis, max: textrule.MaxID},
	}
	for i, a := range req.ARS {
		fields = append(fields, field{name: fmt.Sprintf("ars[%d]", i), value: a, max: textrule.MaxID})
	}
	return checkFields(fields...)
}

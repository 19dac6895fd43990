package starter

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/textrule"
)

// hostile are values every string field of every request must refuse, naming the field;
// long is filled in per field with a value one character over its limit.
var hostile = []struct{ name, value, rule string }{
	{"nul", "a\x00b", "contains a NUL character"},
	{"invalid utf-8", "a\xffb", "not valid UTF-8"},
	{"escape", "a\x1b[2Jb", "contains the control character U+001B"},
	{"delete", "a\x7fb", "contains the control character U+007F"},
	{"right-to-left override", "a\u202eb", "contains the invisible formatting character U+202E"},
}

// TestEveryFieldRefusesHostileText sends each hostile value in each string field of each
// starter call. The refusal must come before anything reaches Temporal or PostgreSQL (the
// service here has neither: a call that got past the check would panic), be a
// KindInvalid, and name the field and the rule.
func TestEveryFieldRefusesHostileText(t *testing.T) {
	s := &Service{}
	pm := Principal{Name: "pm", Role: domain.RolePM}
	muni := Principal{Name: "m", Role: domain.RoleMunicipality, ARS: "055150000000"}
	const ars, svc = "055150000000", "99107023037000"
	type call func(v string) error
	act := func(p Principal, mk func(v string) Action) call {
		return func(v string) error { _, err := s.Act(t.Context(), p, ars, svc, mk(v)); return err }
	}
	data := func(field string) func(v string) Action {
		return func(v string) Action {
			raw, err := json.Marshal(map[string]any{field: v})
			require.NoError(t, err)
			if !utf8.ValidString(v) { // json.Marshal would replace the bytes: write them raw
				raw = []byte(`{"` + field + `":"` + v + `"}`)
			}
			return Action{Name: "submit-connection-data", ID: "a-1", Data: raw}
		}
	}
	fields := []struct {
		field string
		max   int
		call  call
	}{
		{"action", textrule.MaxID, act(muni, func(v string) Action { return Action{Name: v, ID: "a-1"} })},
		{"action_id", textrule.MaxID, act(muni, func(v string) Action { return Action{Name: "sign-agreement", ID: v} })},
		{"step", textrule.MaxID, act(muni, func(v string) Action { return Action{Name: "sign-agreement", ID: "a-1", Step: v} })},
		{"reason", textrule.MaxReason, act(muni, func(v string) Action { return Action{Name: "sign-agreement", ID: "a-1", Reason: v} })},
		{"data.contact_email", textrule.MaxEmail, act(muni, data("contact_email"))},
		{"data.contact_address", textrule.MaxAddress, act(muni, data("contact_address"))},
		{"data.fachverfahren", textrule.MaxName, act(muni, data("fachverfahren"))},
		{"data.transport", textrule.MaxName, act(muni, data("transport"))},
		{"data.org_unit_id", textrule.MaxName, act(muni, data("org_unit_id"))},
		{"data.dvdv_key", textrule.MaxName, act(muni, data("dvdv_key"))},
		{"data.payment_account", textrule.MaxName, act(muni, data("payment_account"))},
		{"data.note", textrule.MaxReason, act(muni, data("note"))},
		{"ars", textrule.MaxID, func(v string) error { _, _, err := s.Start(t.Context(), pm, v, svc); return err }},
		{"service", textrule.MaxID, func(v string) error { _, _, err := s.Start(t.Context(), pm, ars, v); return err }},
		{"ars", textrule.MaxID, func(v string) error { _, err := s.Status(t.Context(), pm, v, svc); return err }},
		{"ars", textrule.MaxID, func(v string) error { _, err := s.Audit(t.Context(), pm, v, svc); return err }},
		{"service", textrule.MaxID, func(v string) error { _, err := s.Service(t.Context(), pm, v); return err }},
		{"land", textrule.MaxID, func(v string) error { _, err := s.Coverage(t.Context(), pm, svc, v); return err }},
		{"state", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{State: v}); return err }},
		{"stage", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{Stage: v}); return err }},
		{"service", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{Service: v}); return err }},
		{"land", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{Land: v}); return err }},
		{"kreis", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{Kreis: v}); return err }},
		{"ars", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{ARS: v}); return err }},
		{"step", textrule.MaxID, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{Step: v}); return err }},
		{"cursor", textrule.MaxCursor, func(v string) error { _, _, err := s.List(t.Context(), pm, store.RunFilter{Cursor: v}); return err }},
		{"land", textrule.MaxID, func(v string) error {
			_, _, err := s.Municipalities(t.Context(), pm, store.MunicipalityFilter{Land: v})
			return err
		}},
		{"kreis", textrule.MaxID, func(v string) error {
			_, _, err := s.Municipalities(t.Context(), pm, store.MunicipalityFilter{Kreis: v})
			return err
		}},
		{"q", textrule.MaxQuery, func(v string) error {
			_, _, err := s.Municipalities(t.Context(), pm, store.MunicipalityFilter{Query: v})
			return err
		}},
		{"cursor", textrule.MaxCursor, func(v string) error {
			_, _, err := s.Municipalities(t.Context(), pm, store.MunicipalityFilter{Cursor: v})
			return err
		}},
		{"service", textrule.MaxID, func(v string) error {
			_, _, err := s.StartCampaign(t.Context(), pm, CampaignRequest{Service: v, Land: "05"})
			return err
		}},
		{"land", textrule.MaxID, func(v string) error {
			_, _, err := s.StartCampaign(t.Context(), pm, CampaignRequest{Service: svc, Land: v})
			return err
		}},
		{"kreis", textrule.MaxID, func(v string) error {
			_, _, err := s.StartCampaign(t.Context(), pm, CampaignRequest{Service: svc, Kreis: v})
			return err
		}},
		{"ars[1]", textrule.MaxID, func(v string) error {
			_, _, err := s.StartCampaign(t.Context(), pm, CampaignRequest{Service: svc, ARS: []string{ars, v}})
			return err
		}},
		{"id", textrule.MaxID, func(v string) error { _, err := s.Campaign(t.Context(), pm, v); return err }},
		{"id", textrule.MaxID, func(v string) error { _, err := s.ActOnCampaign(t.Context(), pm, v, "pause", "x"); return err }},
		{"action", textrule.MaxID, func(v string) error { _, err := s.ActOnCampaign(t.Context(), pm, "c", v, "x"); return err }},
		{"reason", textrule.MaxReason, func(v string) error { _, err := s.ActOnCampaign(t.Context(), pm, "c", "pause", v); return err }},
	}
	for _, f := range fields {
		cases := append(hostile[:len(hostile):len(hostile)], struct{ name, value, rule string }{
			"too long", strings.Repeat("ä", f.max+1), fmt.Sprintf("longer than %d characters", f.max),
		})
		for _, h := range cases {
			t.Run(f.field+"/"+h.name, func(t *testing.T) {
				err := f.call(h.value)
				require.Equal(t, KindInvalid, KindOf(err), "%v", err)
				require.EqualError(t, err, f.field+": "+h.rule)
			})
		}
	}
}

// TestFreeTextKeepsLineBreaks: reasons, notes and addresses may span lines; a line break
// in a short value is refused.
func TestFreeTextKeepsLineBreaks(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		want string
	}{
		{Action{Name: "cancel", ID: "a", Reason: "Zeile 1\r\nZeile 2\tEnde"}, ""},
		{Action{Name: "confirm-test", ID: "a", Data: json.RawMessage(`{"received":false,"note":"kam\nnicht an"}`)}, ""},
		{Action{Name: "submit-connection-data", ID: "a", Data: json.RawMessage(`{"contact_address":"Rathaus\nMünster"}`)}, ""},
		{Action{Name: "submit-connection-data", ID: "a", Data: json.RawMessage(`{"org_unit_id":"a\nb"}`)}, "data.org_unit_id: contains the control character U+000A"},
		{Action{Name: "cancel", ID: "a\nb"}, "action_id: contains the control character U+000A"},
		{Action{Name: "submit-connection-data", ID: "a", Data: json.RawMessage(`{"x\u0000":"y"}`)}, "data.x\x00: contains a NUL character"},
		{Action{Name: "submit-connection-data", ID: "a", Data: json.RawMessage(`{"list":["ok","\u0007"]}`)}, "data.list[1]: contains the control character U+0007"},
		{Action{Name: "submit-connection-data", ID: "a", Data: json.RawMessage(`{"note":"` + strings.Repeat("x", textrule.MaxData) + `"}`)}, fmt.Sprintf("data: longer than %d bytes", textrule.MaxData)},
	} {
		err := checkAction(tc.a)
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.EqualError(t, err, tc.want)
	}
}

// fuzzRunSeq numbers the transitions FuzzActionBody writes to its run.
var fuzzRunSeq atomic.Int64

// FuzzActionBody sends fuzzed action bodies (as the API decodes them) to the starter's
// check and then writes the audit event the workflow would write for the action to a real
// read model, followed by the next, ordinary transition. Properties:
//   - the starter answers every body: accepted, or refused as KindInvalid naming a field
//     of the body;
//   - an accepted action holds only strings PostgreSQL takes (valid UTF-8 without NUL);
//   - accepted or not, the write of its audit event and the run's next transition both
//     succeed (the store cleans what slipped past), and the read model moves to the next
//     seq: a run cannot be wedged by what a caller sent.
//
// The Temporal server is left out, so the target stays fast; the integration test
// TestHostileInput drives the same through a real workflow.
func FuzzActionBody(f *testing.F) {
	for _, s := range []string{
		`{"action":"sign-agreement","action_id":"x","reason":"a\u0000b"}`,
		`{"action":"confirm-test","action_id":"x","data":{"received":false,"note":"` + "\xff\xfe" + `"}}`,
		`{"action":"submit-connection-data","action_id":"x","data":{"contact_email":"a@b.de","org_unit_id":"\u001b[2J"}}`,
		`{"action":"cancel","action_id":"x","reason":"Zeile 1\nZeile 2"}`,
		`{"action":"cancel","action_id":"` + strings.Repeat("x", 300) + `"}`,
	} {
		f.Add([]byte(s))
	}
	url := storetest.NewDatabase(f)
	st, err := store.Open(f.Context(), url, zap.NewNop())
	require.NoError(f, err)
	f.Cleanup(st.Close)
	const ars, svc = domain.ARS("055150000000"), domain.ServiceKey("99107023037000")
	id := domain.RunID(ars, svc)
	fields := []string{"action", "action_id", "step", "reason", "data"}

	f.Fuzz(func(t *testing.T, body []byte) {
		var a Action
		if json.Unmarshal(body, &a) != nil {
			return // the API refuses what does not decode (FuzzAPIJSONBodies holds it to that)
		}
		err := checkAction(a)
		if err != nil {
			require.Equal(t, KindInvalid, KindOf(err), "%v", err)
			named := false
			for _, name := range fields {
				named = named || strings.HasPrefix(err.Error(), name+": ") || strings.HasPrefix(err.Error(), name+".") || strings.HasPrefix(err.Error(), name+"[")
			}
			require.True(t, named, "the refusal %q names no field of the body", err)
		} else {
			for _, s := range []string{a.Name, a.ID, a.Step, a.Reason, string(a.Data)} {
				require.True(t, utf8.ValidString(s), "accepted invalid UTF-8 %q", s)
				require.NotContains(t, s, "\x00", "accepted a NUL")
			}
		}
		seq := fuzzRunSeq.Add(2)
		at := time.Unix(seq, 0).UTC()
		snap := func(seq int64, e domain.AuditEvent) domain.RunSnapshot {
			e.RunID, e.Seq, e.At, e.Role = id, seq, at, domain.RoleMunicipality
			return domain.RunSnapshot{
				Status: domain.RunStatus{ID: id, ARS: ars, Service: svc, State: domain.RunWaiting, Stage: domain.StageVereinbarung,
					WaitingFor: &domain.WaitingFor{Action: a.Name, Role: domain.RoleMunicipality, Step: a.Step, Note: a.Reason},
					CreatedAt:  at, UpdatedAt: at, Seq: seq},
				Events: []domain.AuditEvent{e},
			}
		}
		require.NoError(t, st.ApplySnapshot(t.Context(), snap(seq-1, domain.AuditEvent{
			Actor: a.ID, Action: a.Name, Step: a.Step, Reason: a.Reason, Detail: string(a.Data),
		})))
		require.NoError(t, st.ApplySnapshot(t.Context(), snap(seq, domain.AuditEvent{Actor: "rollin", Action: "next"})))
		run, err := st.Run(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, seq, run.Seq, "the run moved on")
	})
}

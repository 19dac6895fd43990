package web

import (
	"encoding/csv"

	"github.com/rollin-efa/rollin/domain"
)

// csvMaxPages bounds an export at 50,000 runs, more than any organisation's roll-ins of
// one service; a larger export is a job for the API's pages.
const csvMaxPages = 50

// runsCSV exports every run matching the list's filters, not only the shown page, for the
// spreadsheets the project managers report with: semicolon-separated with a byte order
// mark, as German Excel opens it without an import dialogue.
func (s *Server) runsCSV(q *request) error {
	ctx := q.r.Context()
	f := runFilter(q.r.URL.Query())
	f.Cursor, f.Limit = "", 1000
	var all []domain.RunStatus
	for range csvMaxPages {
		items, next, err := s.starter.List(ctx, q.p, f)
		if err != nil {
			return err
		}
		all = append(all, items...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	rows, _, err := s.rows(q, all)
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="rollins.csv"`)
	_, _ = q.w.Write([]byte("\uFEFF"))
	w := csv.NewWriter(q.w)
	w.Comma = ';'
	_ = w.Write([]string{"ARS", "Gemeinde", "Leistungsschlüssel", "Dienst", "Zustand", "Phase", "Wartet auf", "Schritt", "Begonnen", "Stand"})
	for _, r := range rows {
		var waitingFor, step string
		if wf := r.Run.WaitingFor; wf != nil {
			waitingFor, step = label(roleLabels, wf.Role)+": "+label(actionLabels, wf.Action), wf.Step
		}
		_ = w.Write([]string{
			string(r.Run.ARS), csvSafe(r.Municipality), string(r.Run.Service), csvSafe(r.ServiceName),
			label(stateLabels, r.Run.State), label(stageLabels, r.Run.Stage), waitingFor, step,
			r.Run.CreatedAt.In(berlin).Format("2006-01-02 15:04"), r.Run.UpdatedAt.In(berlin).Format("2006-01-02 15:04"),
		})
	}
	w.Flush()
	return w.Error()
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet (CSV injection).
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

package web

import (
	"encoding/csv"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// runsCSV exports every run matching the list's filters, not only the shown page, for the
// spreadsheets the project managers report with: semicolon-separated with a byte order
// mark, as German Excel opens it without an import dialogue. It streams page by page, so
// an export of every run of an installation needs no more memory than one page.
func (s *Server) runsCSV(q *request) error {
	ctx := q.r.Context()
	f := runFilter(q.r.URL.Query())
	f.Cursor, f.Limit = "", 1000
	items, next, err := s.starter.List(ctx, q.p, f) // the first page before the header: a refusal is still a page
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
	for {
		rows, _, err := s.rows(q, items)
		if err != nil {
			s.cutOff(err)
		}
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
		if next == "" {
			return w.Error()
		}
		f.Cursor = next
		if items, next, err = s.starter.List(ctx, q.p, f); err != nil {
			s.cutOff(err)
		}
	}
}

// cutOff ends an export that failed after its first rows went out: the status is sent, so
// the log says why, and the connection is dropped (http.ErrAbortHandler) so that the
// browser reports a failed download instead of saving a short file as complete.
func (s *Server) cutOff(err error) {
	s.log.Error("CSV export cut off", zap.Error(err))
	panic(http.ErrAbortHandler)
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet (CSV injection).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

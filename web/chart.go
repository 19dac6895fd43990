package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // the pages show Berlin time on machines without a zone database

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// coverageData is the coverage page's content.
type coverageData struct {
	Services []domain.Service
	Service  domain.Service
	Land     string
	Lands    any
	Groups   []domain.CoverageGroup
	States   []domain.RunState
	Chart    template.HTML
	SVG      string // URL of the chart alone
}

func (s *Server) coverage(q *request) (coverageData, error) {
	ctx, v := q.r.Context(), q.r.URL.Query()
	if !starter.MaySeeCoverage(q.p) {
		return coverageData{}, &starter.Error{Kind: starter.KindForbidden, Msg: "project managers and operators see the coverage"}
	}
	svcs, err := s.starter.Services(ctx, q.p)
	if err != nil {
		return coverageData{}, err
	}
	d := coverageData{Services: svcs, Land: v.Get("land"), Lands: lands, States: runStates}
	key := v.Get("service")
	if key == "" && len(svcs) > 0 {
		key = string(svcs[0].Key)
	}
	if key == "" {
		return d, nil
	}
	if d.Service, err = s.starter.Service(ctx, q.p, key); err != nil {
		return d, err
	}
	if d.Groups, err = s.starter.Coverage(ctx, q.p, key, d.Land); err != nil {
		return d, err
	}
	for i := range d.Groups {
		if d.Land == "" {
			d.Groups[i].Name = landName(d.Groups[i].Key)
		}
	}
	d.Chart = coverageChart(d.Service.Name, d.Land, d.Groups)
	d.SVG = "/abdeckung.svg?service=" + string(d.Service.Key) + "&land=" + d.Land
	return d, nil
}

func (s *Server) coveragePage(q *request) error {
	d, err := s.coverage(q)
	if err != nil {
		return err
	}
	return s.render(q, http.StatusOK, "coverage", "Abdeckung", d)
}

// coverageSVG serves the chart alone, for reports and slides.
func (s *Server) coverageSVG(q *request) error {
	d, err := s.coverage(q)
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	q.w.Header().Set("Content-Disposition", `inline; filename="abdeckung.svg"`)
	_, err = q.w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + string(d.Chart)))
	return err
}

// stateColours colour the chart's segments; "" is the municipalities without a run.
var stateColours = map[domain.RunState]string{
	domain.RunLive: "#1a7f37", domain.RunRunning: "#0969da", domain.RunWaiting: "#bf8700",
	domain.RunIncident: "#cf222e", domain.RunBlocked: "#57606a", domain.RunCancelled: "#8c959f", "": "#eaeef2",
}

// coverageChart draws one horizontal bar per group, its segments the share of the group's
// municipalities in each state, as SVG built on the server (no script, readable by screen
// readers through its title and description; the page has the same figures as a table).
func coverageChart(service, land string, groups []domain.CoverageGroup) template.HTML {
	const labelW, barW, rowH, top = 230, 460, 26, 40
	height := top + rowH*len(groups) + 50
	var b strings.Builder
	where := "je Land"
	if land != "" {
		where = "je Kreis in " + landName(land)
	}
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="13">`,
		labelW+barW+80, height, labelW+barW+80, height)
	fmt.Fprintf(&b, `<title id="chart-title">Abdeckung von %s %s</title>`, esc(service), esc(where))
	var desc []string
	for _, g := range groups {
		desc = append(desc, fmt.Sprintf("%s: %d von %d live", g.Name, g.ByState[domain.RunLive], g.Municipalities))
	}
	fmt.Fprintf(&b, `<desc id="chart-desc">%s</desc>`, esc(strings.Join(desc, "; ")))
	// legend
	x := 0
	for _, st := range append(append([]domain.RunState{}, runStates...), "") {
		name := "nicht begonnen"
		if st != "" {
			name = label(stateLabels, st)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="%s" stroke="#24292f"/><text x="%d" y="19" fill="#24292f">%s</text>`,
			x, stateColours[st], x+16, esc(name))
		x += 24 + 8*len([]rune(name))
	}
	for i, g := range groups {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#24292f">%s</text>`, labelW-8, y+15, esc(g.Name))
		pos := float64(labelW)
		segment := func(st domain.RunState, n int) {
			if n <= 0 || g.Municipalities == 0 {
				return
			}
			w := float64(barW) * float64(n) / float64(g.Municipalities)
			name := "nicht begonnen"
			if st != "" {
				name = label(stateLabels, st)
			}
			fmt.Fprintf(&b, `<rect class="seg" x="%.1f" y="%d" width="%.1f" height="18" fill="%s"><title>%s: %d</title></rect>`, pos, y+2, w, stateColours[st], esc(name), n)
			pos += w
		}
		for _, st := range runStates {
			segment(st, g.ByState[st])
		}
		segment("", g.NotStarted())
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="18" fill="none" stroke="#24292f"/>`, labelW, y+2, barW)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#24292f">%d/%d</text>`, labelW+barW+6, y+15, g.ByState[domain.RunLive], g.Municipalities)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#24292f">Anteil der Gemeinden je Zustand; rechts: live von allen</text>`, labelW, height-14)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec G203 -- every text in it went through HTMLEscapeString
}

var berlin = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// funcs are the template helpers: German labels and dates.
var funcs = template.FuncMap{
	"stateLabel":     func(s domain.RunState) string { return label(stateLabels, s) },
	"stageLabel":     func(s domain.Stage) string { return label(stageLabels, s) },
	"stepLabel":      func(s string) string { return label(stepLabels, s) },
	"stepStateLabel": func(s domain.StepState) string { return label(stepStateLabels, s) },
	"roleLabel":      func(r domain.Role) string { return label(roleLabels, r) },
	"actionLabel":    func(a string) string { return label(actionLabels, a) },
	// eventLabel names an audit entry: an action, an event of the process, or a refused
	// action ("…-refused").
	"eventLabel": func(a string) string {
		if name, ok := strings.CutSuffix(a, "-refused"); ok {
			return label(actionLabels, name) + " (abgelehnt)"
		}
		if l, ok := actionLabels[a]; ok {
			return l
		}
		return label(eventLabels, a)
	},
	"transportLabel": func(t domain.Transport) string { return label(transportLabels, t) },
	"landName":       landName,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(berlin).Format("02.01.2006 15:04")
	},
	"day": func(t time.Time) string { return t.In(berlin).Format("02.01.2006") },
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"count": func(g domain.CoverageGroup, st domain.RunState) int {
		return g.ByState[st]
	},
	// args hands a sub-template the page's view and one more value (which form).
	"args": func(v view, action string) map[string]any { return map[string]any{"V": v, "Action": action} },
	"same": func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) },
}

// Package web serves Rollin's pages for people: municipal staff ("Meine Roll-ins"),
// project managers and operators, in German, rendered on the server so that they work
// without JavaScript. Every read and every action goes through the starter, like the JSON
// API's: the pages hold no rule about who may do what, they only choose which forms to
// show by asking the starter's role matrix.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/workflows"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Starter is what the pages need of the starter: the API's calls and the overviews only
// pages show. *starter.Service implements it.
type Starter interface {
	starter.API
	MunicipalityNames(ctx context.Context, p starter.Principal, ars []domain.ARS) (map[domain.ARS]string, error)
	Coverage(ctx context.Context, p starter.Principal, service, land string) ([]domain.CoverageGroup, error)
}

// Options configure the pages.
type Options struct {
	// Tokens sign people in by API token; nil or empty turns the token form off.
	Tokens *auth.Tokens
	// OIDC signs people in at the organisation's identity provider; nil turns it off.
	OIDC *auth.OIDC
	// Sessions keeps the sessions (required): *store.Store, whose table every replica on
	// the database shares, so that sign-out and an operator's ending of a token's sessions
	// hold everywhere.
	Sessions SessionStore
	// SessionKey signs session cookies. Replicas behind one load balancer need the same;
	// empty makes a random one, so a restart signs everyone out.
	SessionKey []byte
	// SessionTTL is how long a sign-in lasts (8 hours when zero: a working day).
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure although the request came by plain HTTP: for
	// installations whose TLS ends at a proxy in front of Rollin.
	SecureCookies bool
	// ReminderAfter and EscalationAfter are the process's thresholds; the overdue list
	// shows who has waited longer.
	ReminderAfter, EscalationAfter time.Duration
	Log                            *zap.Logger
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

// Server is the http.Handler of the pages.
type Server struct {
	starter  Starter
	opts     Options
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	routes   []string
	log      *zap.Logger
}

// pageSecurity replaces the API's "nothing at all" policy for HTML: the pages load their
// own stylesheet and images and nothing else, run no script, and post forms only to
// themselves.
const pageSecurity = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// New builds the pages over s.
func New(s Starter, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Sessions == nil {
		return nil, errors.New("web: Options.Sessions is required: sessions live in the database")
	}
	key := opts.SessionKey
	if len(key) == 0 {
		key = []byte(randomToken() + randomToken())
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	srv := &Server{
		starter: s, opts: opts, pages: pages, mux: http.NewServeMux(), log: opts.Log,
		sessions: &sessions{key: key, ttl: opts.SessionTTL, secure: opts.SecureCookies, now: opts.Now, db: opts.Sessions},
	}
	srv.mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(srv.static)))
	srv.mux.HandleFunc("GET /{$}", srv.home)
	srv.mux.HandleFunc("/", srv.notFound)
	srv.mux.HandleFunc("GET /anmelden", srv.signInPage)
	srv.mux.HandleFunc("POST /anmelden", srv.signIn)
	srv.mux.HandleFunc("GET /anmelden/oidc", srv.oidcStart)
	srv.mux.HandleFunc("GET /anmelden/oidc/zurueck", srv.oidcCallback)
	srv.route("POST /abmelden", srv.signOut)
	srv.route("GET /rollins", srv.runsPage)
	srv.route("GET /rollins.csv", srv.runsCSV)
	srv.route("GET /rollins/neu", srv.startPage)
	srv.route("POST /rollins/neu", srv.start)
	srv.route("GET /rollins/{ars}/{service}", srv.runPage)
	srv.route("POST /rollins/{ars}/{service}/aktion", srv.act)
	srv.route("GET /stoerungen", srv.incidentsPage)
	srv.route("POST /stoerungen", srv.bulkAct)
	srv.route("GET /ueberfaellig", srv.overduePage)
	srv.route("GET /abdeckung", srv.coveragePage)
	srv.route("GET /abdeckung.svg", srv.coverageSVG)
	srv.route("GET /dienste", srv.servicesPage)
	srv.route("GET /dienste/{key}", srv.servicePage)
	return srv, nil
}

// Routes lists the patterns of the signed-in pages, so that the authorization test can
// require that it covers every one.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", pageSecurity)
	s.mux.ServeHTTP(w, r)
}

// static serves the embedded stylesheet and images: files only. A directory (the
// listing http.FileServer would show, or its index) is no page: 404.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	files, _ := fs.Sub(staticFS, "static") // the embedded directory exists
	name := strings.TrimPrefix(r.URL.Path, "/")
	if info, err := fs.Stat(files, name); name == "" || !fs.ValidPath(name) || err != nil || info.IsDir() {
		s.notFound(w, r)
		return
	}
	http.ServeFileFS(w, r, files, name) // #nosec G703 -- name passed fs.ValidPath (no "..", not rooted) and files is the embedded static directory only
}

// notFound answers a path that is no page, in German and with the navigation of whoever
// is signed in.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var sess *session
	found, ok, err := s.current(w, r)
	if err != nil {
		s.log.Warn("session store unavailable", zap.Error(err))
	}
	if ok {
		sess = &found
	}
	s.renderError(w, r, sess, http.StatusNotFound, "Diese Seite gibt es nicht.")
}

// request is what a signed-in page handler gets.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	p    starter.Principal
	sess session
}

type pageHandler func(q *request) error

// route registers a page for signed-in users: without a session it sends the browser to
// the sign-in page; a form post must repeat the session's CSRF token.
func (s *Server) route(pattern string, h pageHandler) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := s.current(w, r)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		if !ok {
			if r.Method != http.MethodGet {
				s.renderError(w, r, nil, http.StatusUnauthorized, "Sie sind nicht angemeldet (oder die Anmeldung ist abgelaufen). Bitte melden Sie sich an.")
				return
			}
			http.Redirect(w, r, "/anmelden?weiter="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther) // #nosec G710 -- a fixed local path; the request URI is only its escaped parameter
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				s.renderError(w, r, &sess, http.StatusBadRequest, "Das Formular konnte nicht gelesen werden.")
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), sess.CSRF) {
				s.renderError(w, r, &sess, http.StatusForbidden, "Das Formular ist abgelaufen oder stammt nicht von dieser Seite. Bitte laden Sie die Seite neu und senden Sie es erneut.")
				return
			}
		}
		q := &request{w: w, r: r, p: sess.principal(), sess: sess}
		if err := h(q); err != nil {
			s.fail(q, err)
		}
	})
}

// fail answers a refused or failed request with a page that says why, in the status code
// the JSON API would use.
func (s *Server) fail(q *request, err error) {
	status, msg := http.StatusInternalServerError, "Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später erneut."
	detail := ""
	var refusal *starter.Error
	if errors.As(err, &refusal) && refusal.Kind != starter.KindUnavailable {
		detail = refusal.Msg
	}
	switch starter.KindOf(err) {
	case starter.KindInvalid:
		status, msg = http.StatusBadRequest, "Die Eingabe wurde abgelehnt."
	case starter.KindForbidden:
		status, msg = http.StatusForbidden, "Dafür fehlt Ihnen die Berechtigung."
	case starter.KindNotFound:
		status, msg, detail = http.StatusNotFound, "Nicht gefunden (oder nicht für Sie sichtbar).", ""
	case starter.KindConflict:
		status, msg = http.StatusConflict, "Das geht im jetzigen Zustand nicht."
	case starter.KindUnavailable:
		status, msg = http.StatusServiceUnavailable, "Ein System dahinter antwortet gerade nicht. Bitte versuchen Sie es gleich noch einmal."
	}
	if status >= 500 {
		s.log.Error("page failed", zap.String("path", q.r.URL.Path), zap.Error(err))
	}
	v := view{Title: "Das hat nicht geklappt", Error: msg, ErrorDetail: detail}
	if werr := s.write(q.w, q.r, &q.sess, status, "error", v); werr != nil {
		s.log.Error("render error page", zap.Error(werr))
		http.Error(q.w, msg, status)
	}
}

// view is what every page template gets.
type view struct {
	Title string
	Who   *starter.Principal
	CSRF  string
	Nav   []navItem
	Flash string
	Error string
	// ErrorDetail is the starter's reason, in English like the API's, marked as such.
	ErrorDetail string
	Data        any
	// Refresh, if set, sends the browser on to this path of the site at once.
	Refresh template.URL
}

type navItem struct {
	Href, Label string
	Current     bool
}

// nav lists the pages a person works with, in the order of their work: the operator's
// inbox first, the municipality's own runs. Which pages appear at all the starter decides.
func nav(p starter.Principal, path string) []navItem {
	var items []navItem
	add := func(href, label string) {
		items = append(items, navItem{Href: href, Label: label, Current: path == href})
	}
	if starter.May(p, workflows.ActionRetryStep) {
		add("/stoerungen", "Störungen")
	}
	if p.Role == domain.RoleMunicipality {
		add("/rollins", "Meine Roll-ins")
	} else {
		add("/rollins", "Roll-ins")
	}
	if starter.MayStart(p) {
		add("/rollins/neu", "Roll-in starten")
		add("/ueberfaellig", "Überfällig")
	}
	if starter.MaySeeCoverage(p) {
		add("/abdeckung", "Abdeckung")
	}
	add("/dienste", "Dienste")
	return items
}

// render writes a page with status.
func (s *Server) render(q *request, status int, page, title string, data any) error {
	return s.write(q.w, q.r, &q.sess, status, page, view{Title: title, Data: data, Flash: flashes[q.r.URL.Query().Get("ok")]})
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, sess *session, status int, page string, v view) error {
	if sess != nil && sess.CSRF != "" {
		p := sess.principal()
		v.Who, v.CSRF, v.Nav = &p, sess.CSRF, nav(p, r.URL.Path)
	}
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("web: no template %q", page)
	}
	var buf bytes.Buffer // rendered whole first, so a template error never sends half a page
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, sess *session, status int, msg string) {
	if err := s.write(w, r, sess, status, "error", view{Title: "Das hat nicht geklappt", Error: msg}); err != nil {
		s.log.Error("render error page", zap.Error(err))
		http.Error(w, msg, status)
	}
}

// flashes are the confirmations a redirect after a form may show: fixed texts chosen by a
// key, so that a link cannot make the page say anything else.
var flashes = map[string]string{
	"aktion":     "Erledigt. Der Roll-in zeigt den neuen Stand.",
	"unterwegs":  "Ihre Eingabe ist angekommen, aber noch nicht gespeichert: ein System dahinter antwortet gerade langsam. Sie wird übernommen, sobald es wieder antwortet; bitte laden Sie die Seite in einer Minute neu, statt sie erneut abzuschicken.",
	"gestartet":  "Der Roll-in wurde gestartet.",
	"vorhanden":  "Diesen Roll-in gibt es schon; hier ist sein Stand.",
	"abgemeldet": "Sie sind abgemeldet.",
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

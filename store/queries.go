package store

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// This file holds every SQL statement of the store, grouped by the table they serve, so
// that a schema change can be checked against all its readers and writers in one place.

// ---- database -------------------------------------------------------------------------

// createDatabaseSQL creates the database name; identifiers cannot be bind parameters, so
// the name is quoted instead.
func createDatabaseSQL(name string) string {
	return "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
}

// dropDatabaseSQL drops a database even while others are connected to it.
func dropDatabaseSQL(name string) string {
	return "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
}

// ---- services (catalogue) -------------------------------------------------------------

const serviceColumns = `key, name, provider, fachverfahren, transports, payment_required,
	user_account_required, dpa_required, lands, activation_dates, costs, contacts, organisation,
	submission_schemas`

const serviceSQL = `SELECT ` + serviceColumns + ` FROM services WHERE key = $1`

const servicesSQL = `SELECT ` + serviceColumns + ` FROM services ORDER BY key`

// ---- municipalities (register and profiles) -------------------------------------------

// createImportTableSQL makes a transaction-local staging table for COPY, so that the
// upsert below can compare all rows in one statement.
const createImportTableSQL = `
CREATE TEMP TABLE municipalities_import (
	ars        text    NOT NULL,
	ags        text    NOT NULL,
	name       text    NOT NULL,
	land       text    NOT NULL,
	kreis      text    NOT NULL,
	kreis_name text    NOT NULL,
	population integer NOT NULL
) ON COMMIT DROP`

const importTable = "municipalities_import"

var importColumns = []string{"ars", "ags", "name", "land", "kreis", "kreis_name", "population"}

// mergeImportSQL upserts the staged rows, touching a row only when a register field
// differs, and counts inserts and updates; xmax = 0 marks a freshly inserted row.
const mergeImportSQL = `
WITH merged AS (
	INSERT INTO municipalities AS m (ars, ags, name, land, kreis, kreis_name, population)
	SELECT ars, ags, name, land, kreis, kreis_name, population FROM municipalities_import
	ON CONFLICT (ars) DO UPDATE SET
		ags        = EXCLUDED.ags,
		name       = EXCLUDED.name,
		land       = EXCLUDED.land,
		kreis      = EXCLUDED.kreis,
		kreis_name = EXCLUDED.kreis_name,
		population = EXCLUDED.population,
		updated_at = now()
	WHERE (m.ags, m.name, m.land, m.kreis, m.kreis_name, m.population)
		IS DISTINCT FROM
		(EXCLUDED.ags, EXCLUDED.name, EXCLUDED.land, EXCLUDED.kreis, EXCLUDED.kreis_name, EXCLUDED.population)
	RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged`

const municipalitySelect = `
SELECT m.ars, m.name, m.land, m.kreis, m.kreis_name, m.population,
	p.fachverfahren, p.transports, f.ars IS NOT NULL
FROM municipalities m
LEFT JOIN municipality_profiles p ON p.ars = m.ars
LEFT JOIN framework_agreements f ON f.ars = m.ars`

const municipalitySQL = municipalitySelect + ` WHERE m.ars = $1`

// municipalitiesSQL builds the filtered keyset page query. It fetches limit+1 rows so the
// caller can tell whether another page follows. Only the conditions in use are emitted so
// the planner can use the (land, ars) and (kreis, ars) indexes.
func municipalitiesSQL(f MunicipalityFilter, limit int) (string, []any) {
	var w where
	if f.Land != "" {
		w.add("m.land = ?", f.Land)
	}
	if f.Kreis != "" {
		w.add("m.kreis = ?", f.Kreis)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		w.add(`(m.name ILIKE ? ESCAPE '\' OR m.ars LIKE ? ESCAPE '\')`,
			"%"+escapeLike(q)+"%", escapeLike(q)+"%")
	}
	if f.Cursor != "" {
		w.add("m.ars > ?", f.Cursor)
	}
	return municipalitySelect + w.sql() + " ORDER BY m.ars LIMIT " + strconv.Itoa(limit+1), w.args
}

const upsertProfileSQL = `
INSERT INTO municipality_profiles (ars, fachverfahren, transports, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (ars) DO UPDATE SET
	fachverfahren = EXCLUDED.fachverfahren,
	transports    = EXCLUDED.transports,
	updated_at    = now()`

// recordAgreementSQL keeps the first agreement on file: a repeated activity or a second
// signature does not overwrite who signed and when.
const recordAgreementSQL = `
INSERT INTO framework_agreements (ars, signed_by, signed_at)
VALUES ($1, $2, $3)
ON CONFLICT (ars) DO NOTHING`

// ---- runs (read model) ----------------------------------------------------------------

// upsertRunSQL writes the run only if the snapshot is newer than the stored one and
// returns a row only when it did; created_at keeps its first value.
const upsertRunSQL = `
INSERT INTO runs AS r (id, ars, service, land, kreis, state, stage,
	waiting_action, waiting_role, waiting_step, waiting_note, reason, seq, created_at, updated_at,
	step_names, step_stages, step_states, step_attempts, step_errors, step_updated, organisation)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
ON CONFLICT (id) DO UPDATE SET
	ars            = EXCLUDED.ars,
	service        = EXCLUDED.service,
	land           = EXCLUDED.land,
	kreis          = EXCLUDED.kreis,
	state          = EXCLUDED.state,
	stage          = EXCLUDED.stage,
	waiting_action = EXCLUDED.waiting_action,
	waiting_role   = EXCLUDED.waiting_role,
	waiting_step   = EXCLUDED.waiting_step,
	waiting_note   = EXCLUDED.waiting_note,
	reason         = EXCLUDED.reason,
	seq            = EXCLUDED.seq,
	updated_at     = EXCLUDED.updated_at,
	step_names     = EXCLUDED.step_names,
	step_stages    = EXCLUDED.step_stages,
	step_states    = EXCLUDED.step_states,
	step_attempts  = EXCLUDED.step_attempts,
	step_errors    = EXCLUDED.step_errors,
	step_updated   = EXCLUDED.step_updated,
	organisation   = EXCLUDED.organisation
WHERE r.seq < EXCLUDED.seq
RETURNING true`

// insertEventsSQL appends audit events; an event already written (same run and seq) is
// left as it is, which makes replayed snapshots harmless.
const insertEventsSQL = `
INSERT INTO audit_events (run_id, seq, at, actor, role, action, step, reason, detail, worker)
SELECT $1, e.seq, e.at, e.actor, e.role, e.action, e.step, e.reason, e.detail, e.worker
FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::text[], $10::text[]) AS e(seq, at, actor, role, action, step, reason, detail, worker)
ON CONFLICT (run_id, seq) DO NOTHING`

const runColumns = `id, ars, service, state, stage,
	waiting_action, waiting_role, waiting_step, waiting_note, reason, seq, created_at, updated_at,
	organisation`

// runWithStepsSQL reads a run with its steps: one row, the steps as parallel arrays in
// plan order, so both always belong to the same snapshot.
const runWithStepsSQL = `SELECT ` + runColumns + `,
	step_names, step_stages, step_states, step_attempts, step_errors, step_updated
FROM runs WHERE id = $1`

// runsSQL builds the filtered keyset page query over runs, fetching limit+1 rows.
func runsSQL(f RunFilter, limit int) (string, []any) {
	var w where
	for _, c := range []struct{ column, value string }{
		{"state", f.State}, {"stage", f.Stage}, {"service", f.Service},
		{"land", f.Land}, {"kreis", f.Kreis}, {"ars", f.ARS}, {"waiting_step", f.Step},
	} {
		if c.value != "" {
			w.add(c.column+" = ?", c.value)
		}
	}
	if f.Organisation != nil {
		w.add("organisation = ?", string(*f.Organisation))
	}
	if !f.UpdatedBefore.IsZero() {
		w.add("updated_at < ?", f.UpdatedBefore)
	}
	if f.Cursor != "" {
		w.add("id > ?", f.Cursor)
	}
	return `SELECT ` + runColumns + ` FROM runs` + w.sql() +
		" ORDER BY id LIMIT " + strconv.Itoa(limit+1), w.args
}

// municipalityNamesSQL looks up the names of the municipalities of a page of runs.
const municipalityNamesSQL = `SELECT ars, name FROM municipalities WHERE ars = ANY($1)`

// coverageSQL counts, for one service, the municipalities of each group and their runs by
// state. A group is a Land ($2 empty) or a Kreis of the Land $2; $3, when not null, keeps
// the runs of one organisation. Groups without runs come with one row whose state is empty.
const coverageSQL = `
WITH groups AS (
	SELECT CASE WHEN $2 = '' THEN m.land ELSE m.kreis END AS key,
		max(CASE WHEN $2 = '' THEN '' ELSE coalesce(k.name, m.kreis_name) END) AS name,
		count(*) AS total
	FROM municipalities m LEFT JOIN kreise k ON k.key = m.kreis
	WHERE $2 = '' OR m.land = $2
	GROUP BY 1
), counts AS (
	SELECT CASE WHEN $2 = '' THEN r.land ELSE r.kreis END AS key, r.state, count(*) AS n
	FROM runs r
	WHERE r.service = $1 AND ($2 = '' OR r.land = $2) AND ($3::text IS NULL OR r.organisation = $3)
	GROUP BY 1, 2
)
SELECT g.key, g.name, g.total, coalesce(c.state, ''), coalesce(c.n, 0)
FROM groups g LEFT JOIN counts c ON c.key = g.key
ORDER BY g.key, c.state`

const auditSQL = `
SELECT run_id, seq, at, actor, role, action, step, reason, detail, worker
FROM audit_events WHERE run_id = $1 ORDER BY seq`

// ---- helpers for building queries ---------------------------------------------------

// where collects AND-ed conditions written with ? placeholders and numbers them as $n.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ---- campaigns ------------------------------------------------------------------------

// upsertCampaignSQL writes a campaign's snapshot only if it is newer than the stored one,
// so a replayed or reordered write from the campaign workflow changes nothing.
const upsertCampaignSQL = `
INSERT INTO campaigns (id, service, selector, state, total, started, existing, failed, reason,
	created_by, created_at, updated_at, seq, organisation)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (id) DO UPDATE SET
	state      = EXCLUDED.state,
	total      = EXCLUDED.total,
	started    = EXCLUDED.started,
	existing   = EXCLUDED.existing,
	failed     = EXCLUDED.failed,
	reason     = EXCLUDED.reason,
	updated_at = EXCLUDED.updated_at,
	seq        = EXCLUDED.seq
WHERE campaigns.seq < EXCLUDED.seq`

const addCampaignRunsSQL = `
INSERT INTO campaign_runs (campaign_id, run_id)
SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING`

const campaignSQL = `
SELECT id, service, selector, state, total, started, existing, failed, reason,
	created_by, created_at, updated_at, seq, organisation
FROM campaigns WHERE id = $1`

// campaignRunCountsSQL counts a campaign's roll-ins by state and stage; a member without a
// run row yet (not started, or not yet written) counts as pending. A member whose run
// belongs to another organisation than the campaign (it rolled in first) is not counted:
// its state and stage are that organisation's business.
const campaignRunCountsSQL = `
SELECT coalesce(r.state, 'pending'), coalesce(r.stage, ''), count(*)
FROM campaign_runs cr
JOIN campaigns c ON c.id = cr.campaign_id
LEFT JOIN runs r ON r.id = cr.run_id
WHERE cr.campaign_id = $1 AND (r.id IS NULL OR r.organisation = c.organisation)
GROUP BY 1, 2`

// ---- imports (register hierarchy, catalogue) ------------------------------------------

// importServiceSQL upserts one Steckbrief, touching the row only when a field differs, and
// returns a row only when it wrote one: inserted is true for a new key (xmax = 0 marks a
// freshly inserted row). No row back means the stored Steckbrief was identical.
const importServiceSQL = `
INSERT INTO services AS s (` + serviceColumns + `, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now())
ON CONFLICT (key) DO UPDATE SET
	name                  = EXCLUDED.name,
	provider              = EXCLUDED.provider,
	fachverfahren         = EXCLUDED.fachverfahren,
	transports            = EXCLUDED.transports,
	payment_required      = EXCLUDED.payment_required,
	user_account_required = EXCLUDED.user_account_required,
	dpa_required          = EXCLUDED.dpa_required,
	lands                 = EXCLUDED.lands,
	activation_dates      = EXCLUDED.activation_dates,
	costs                 = EXCLUDED.costs,
	contacts              = EXCLUDED.contacts,
	organisation          = EXCLUDED.organisation,
	submission_schemas    = EXCLUDED.submission_schemas,
	updated_at            = now()
WHERE (s.name, s.provider, s.fachverfahren, s.transports, s.payment_required,
		s.user_account_required, s.dpa_required, s.lands, s.activation_dates, s.costs, s.contacts,
		s.organisation, s.submission_schemas)
	IS DISTINCT FROM
	(EXCLUDED.name, EXCLUDED.provider, EXCLUDED.fachverfahren, EXCLUDED.transports,
		EXCLUDED.payment_required, EXCLUDED.user_account_required, EXCLUDED.dpa_required,
		EXCLUDED.lands, EXCLUDED.activation_dates, EXCLUDED.costs, EXCLUDED.contacts,
		EXCLUDED.organisation, EXCLUDED.submission_schemas)
RETURNING (xmax = 0) AS inserted`

// mergeKreiseSQL upserts the Kreise given as parallel arrays in one statement, touching a
// row only when a field differs, and counts inserts and updates like mergeImportSQL.
const mergeKreiseSQL = `
WITH merged AS (
	INSERT INTO kreise AS k (key, name, type, land)
	SELECT key, name, type, left(key, 2)
	FROM unnest($1::text[], $2::text[], $3::text[]) AS i(key, name, type)
	ON CONFLICT (key) DO UPDATE SET
		name       = EXCLUDED.name,
		type       = EXCLUDED.type,
		land       = EXCLUDED.land,
		updated_at = now()
	WHERE (k.name, k.type, k.land) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.type, EXCLUDED.land)
	RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged`

// kreiseSQL lists the Kreise, of one Land when $1 is not empty, in key order.
const kreiseSQL = `
SELECT key, name, type, land FROM kreise
WHERE $1 = '' OR land = $1
ORDER BY key`

// ---- load tests (package bench) -------------------------------------------------------

// fillSyntheticRunsSQL writes $1 synthetic runs waiting for a signature, each with $2
// steps: every municipality of the register crossed with as many synthetic service keys
// (99999 and a running number) as it takes. The rows are real rows of the read model, so
// the status endpoint reads them as it reads any run.
const fillSyntheticRunsSQL = `
INSERT INTO runs (id, ars, service, land, kreis, state, stage,
	waiting_action, waiting_role, waiting_step, seq, created_at, updated_at,
	step_names, step_stages, step_states, step_attempts, step_errors, step_updated)
SELECT 'rollin/' || m.ars || '/' || k.key, m.ars, k.key, m.land, m.kreis, 'waiting', 'vereinbarung',
	'sign-agreement', 'municipality', 'framework-agreement', 3, now(), now(),
	st.names, st.stages, st.states, st.attempts, st.errors, st.updated
FROM generate_series(1, (SELECT ceil($1::numeric / count(*))::int FROM municipalities)) AS g(n)
CROSS JOIN LATERAL (SELECT '99999' || lpad(g.n::text, 9, '0') AS key) k
CROSS JOIN municipalities m
CROSS JOIN (
	SELECT array_agg('step-' || p ORDER BY p) AS names,
		array_agg('vereinbarung'::text ORDER BY p) AS stages,
		array_agg(CASE WHEN p < 2 THEN 'done' ELSE 'pending' END ORDER BY p) AS states,
		array_agg(1 ORDER BY p) AS attempts,
		array_agg(''::text ORDER BY p) AS errors,
		array_agg(now() ORDER BY p) AS updated
	FROM generate_series(0, $2 - 1) AS p
) st
ORDER BY g.n, m.ars
LIMIT $1
ON CONFLICT (id) DO NOTHING`

// lookupRunRowSQL is the bare primary-key read of one run.
const lookupRunRowSQL = `SELECT state, stage, seq FROM runs WHERE id = $1`

// analyzeRunsSQL refreshes the planner's statistics after a bulk fill.
const analyzeRunsSQL = `ANALYZE runs`

// countRunsByStateSQL counts all roll-ins by state (an index-only scan of runs_state_id),
// for the rollin_runs gauge.
const countRunsByStateSQL = `SELECT state, count(*) FROM runs GROUP BY state`

// ---- notifications_sent ---------------------------------------------------------------

// The statements of the record of notices that went out by e-mail or webhook.
const (
	notificationSentSQL = `SELECT EXISTS (SELECT 1 FROM notifications_sent WHERE idempotency_key = $1 AND channel = $2)`

	// recordNotificationSQL keeps the first record: a second delivery (the window
	// between sending and recording) does not move the time of the first.
	recordNotificationSQL = `
INSERT INTO notifications_sent (idempotency_key, channel, run_id, detail, sent_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (idempotency_key, channel) DO NOTHING`

	notificationsSQL = `
SELECT idempotency_key, channel, run_id, detail, sent_at FROM notifications_sent
WHERE run_id = $1 ORDER BY sent_at, idempotency_key, channel`
)

// ---- sessions (web sign-ins) ----------------------------------------------------------

// The statements of the web pages' sessions. A session is found by the SHA-256 of its ID.
const (
	createSessionSQL = `
INSERT INTO sessions (id_hash, name, role, ars, organisation, via, token, csrf, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

	// deleteExpiredSessionsSQL removes the sessions that ended by age before $1.
	deleteExpiredSessionsSQL = `DELETE FROM sessions WHERE expires_at <= $1`

	sessionSQL = `
SELECT name, role, ars, organisation, via, token, csrf, created_at, expires_at
FROM sessions WHERE id_hash = $1`

	deleteSessionSQL = `DELETE FROM sessions WHERE id_hash = $1`

	// endSessionsSQL ends every session signed in under the name $1 (a token's name, or
	// a person's name from the identity provider), of organisation $2 unless that is NULL.
	endSessionsSQL = `DELETE FROM sessions WHERE name = $1 AND ($2::text IS NULL OR organisation = $2)`
)

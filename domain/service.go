package domain

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// Transport is a route by which a municipality receives submissions of a service.
type Transport string

// The transport routes an EfA-Steckbrief may list.
const (
	TransportFITConnect Transport = "fit-connect"
	TransportXTA        Transport = "xta"
	TransportEmail      Transport = "email"
)

// Valid reports whether t is one of the known transport routes.
func (t Transport) Valid() bool {
	return t == TransportFITConnect || t == TransportXTA || t == TransportEmail
}

// Contact is a named person or mailbox on a Steckbrief.
type Contact struct {
	Role  string `json:"role"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Service is the EfA-Steckbrief: the one-page profile of an online service from which
// Rollin derives every roll-in's step plan.
type Service struct {
	Key      ServiceKey `json:"key"`
	Name     string     `json:"name"`
	Provider string     `json:"provider"`
	// Fachverfahren lists the back-office products known to work with the service.
	Fachverfahren []string `json:"fachverfahren"`
	// Transports lists the routes the service can deliver submissions by.
	Transports          []Transport `json:"transports"`
	PaymentRequired     bool        `json:"payment_required"`
	UserAccountRequired bool        `json:"user_account_required"`
	// DPARequired is true for the few services whose Steckbrief still asks for a
	// data-processing agreement (not needed for EfA services since §8a(4) OZG).
	DPARequired bool `json:"dpa_required"`
	// Lands lists the 2-digit Land keys in which a cost-sharing agreement covers the
	// service; a municipality elsewhere cannot join it.
	Lands []string `json:"lands"`
	// ActivationDates are the fixed go-live dates (Stichtage); empty means go-live follows
	// the test at once.
	ActivationDates []time.Time `json:"activation_dates,omitempty"`
	Costs           string      `json:"costs"`
	Contacts        []Contact   `json:"contacts"`
	// SubmissionSchemas are the data schemas of the service's submissions. A service
	// delivered by FIT-Connect needs at least one: every destination lists, per service,
	// the schemas it accepts.
	SubmissionSchemas []SubmissionSchema `json:"submission_schemas,omitempty"`
	// Organisation limits the Steckbrief to one organisation's project managers; empty
	// (the usual case: EfA services are for everyone) puts it in every catalogue.
	Organisation Organisation `json:"organisation,omitempty"`
}

// Validate names the first field of s that is missing or malformed.
func (s Service) Validate() error {
	k, err := ParseServiceKey(string(s.Key))
	if err != nil {
		return fmt.Errorf("service key: %w", err)
	}
	if k != s.Key { // the database and the run IDs know only the canonical form
		return fmt.Errorf("service key %q: write it as %s", s.Key, k)
	}
	if _, err := ParseOrganisation(string(s.Organisation)); err != nil {
		return fmt.Errorf("service %s: %w", s.Key, err)
	}
	if s.Name == "" {
		return fmt.Errorf("service %s: name is empty", s.Key)
	}
	if s.Provider == "" {
		return fmt.Errorf("service %s: provider is empty", s.Key)
	}
	if len(s.Transports) == 0 {
		return fmt.Errorf("service %s: no transport route", s.Key)
	}
	for _, t := range s.Transports {
		if !t.Valid() {
			return fmt.Errorf("service %s: unknown transport %q (want fit-connect, xta or email)", s.Key, t)
		}
	}
	if len(s.Fachverfahren) == 0 {
		return fmt.Errorf("service %s: no compatible Fachverfahren", s.Key)
	}
	for _, l := range s.Lands {
		if !Digits(l, 2) {
			return fmt.Errorf("service %s: Land key %q: want 2 digits", s.Key, l)
		}
	}
	if s.Supports(TransportFITConnect) && len(s.SubmissionSchemas) == 0 {
		return fmt.Errorf("service %s: submission_schemas: a service delivered by fit-connect needs at least one (its FIM data schema)", s.Key)
	}
	for i, sc := range s.SubmissionSchemas {
		if err := sc.validate(); err != nil {
			return fmt.Errorf("service %s: submission_schemas[%d]: %w", s.Key, i, err)
		}
	}
	return nil
}

// SubmissionSchema names the schema of a service's submission data, as FIT-Connect's
// destinations list it: the schema's URI (for FIM services a JSON schema on
// schema.fitko.de) and the data's MIME type.
type SubmissionSchema struct {
	SchemaURI string `json:"schema_uri"`
	MimeType  string `json:"mime_type"`
}

// mimeType is FIT-Connect's pattern for a submission schema's mimeType.
var mimeType = regexp.MustCompile(`^[-\w.]+/[-\w.]+$`)

func (sc SubmissionSchema) validate() error {
	if u, err := url.Parse(sc.SchemaURI); err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return fmt.Errorf("schema_uri %q: want an absolute URI", sc.SchemaURI)
	}
	if !mimeType.MatchString(sc.MimeType) {
		return fmt.Errorf("mime_type %q: want a MIME type like application/json", sc.MimeType)
	}
	return nil
}

// OfferedIn reports whether the service is covered in the given Land.
func (s Service) OfferedIn(land string) bool { return slices.Contains(s.Lands, land) }

// Supports reports whether the service delivers by transport t.
func (s Service) Supports(t Transport) bool { return slices.Contains(s.Transports, t) }

// Compatible reports whether fachverfahren is on the Steckbrief's list.
func (s Service) Compatible(fachverfahren string) bool {
	return slices.Contains(s.Fachverfahren, fachverfahren)
}

// Municipality is one entry of the Destatis municipality register, with what Rollin knows
// of its systems (its profile). The profile fields are empty until the municipality or a
// project manager enters them.
type Municipality struct {
	ARS        ARS    `json:"ars"`
	Name       string `json:"name"`
	Land       string `json:"land"`
	Kreis      string `json:"kreis"`
	KreisName  string `json:"kreis_name"`
	Population int    `json:"population"`
	// Fachverfahren the municipality runs, if known.
	Fachverfahren []string `json:"fachverfahren,omitempty"`
	// Transports the municipality can receive by, if known.
	Transports []Transport `json:"transports,omitempty"`
	// FrameworkAgreement is true once a Rahmenvereinbarung with its Kommunalvertreter is on file.
	FrameworkAgreement bool `json:"framework_agreement"`
}

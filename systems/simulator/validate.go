package simulator

import (
	"net/url"
	"regexp"

	"github.com/rollin-efa/rollin/domain"
)

// The checks below return "" for a valid value or a message that starts with the field's
// JSON name, which becomes the problem detail; firstInvalid picks the first message.

// dvdvOrgKey accepts the DVDV organisation key with or without the colon after the
// prefix ("dvd:055150000000"), as Rollin's questionnaire does.
var dvdvOrgKey = regexp.MustCompile(`^[A-Za-z]{3}:?[0-9]{12}$`)

var stepName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func firstInvalid(msgs ...string) string {
	for _, m := range msgs {
		if m != "" {
			return m
		}
	}
	return ""
}

func required(field, v string) string {
	if v == "" {
		return field + ": required"
	}
	return ""
}

func checkARS(field, v string) string {
	if a, err := domain.ParseARS(v); err != nil || string(a) != v {
		return field + ": want a 12-digit Amtlicher Regionalschlüssel, got " + quote(v)
	}
	return ""
}

func checkServiceKey(field, v string) string {
	if k, err := domain.ParseServiceKey(v); err != nil || string(k) != v {
		return field + ": want a 14-digit Leistungsschlüssel starting with 99, got " + quote(v)
	}
	return ""
}

func checkTransport(field, v string) string {
	if !domain.Transport(v).Valid() {
		return field + ": want fit-connect, xta or email, got " + quote(v)
	}
	return ""
}

func checkOneOf(field, v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	msg := field + ": want one of"
	for i, a := range allowed {
		if i > 0 {
			msg += ","
		}
		msg += " " + a
	}
	return msg + ", got " + quote(v)
}

func checkOrgKey(field, v string) string {
	if !dvdvOrgKey.MatchString(v) {
		return field + ": want a DVDV organisation key (3 letters and 12 digits), got " + quote(v)
	}
	return ""
}

func checkStep(field, v string) string {
	if !stepName.MatchString(v) {
		return field + ": want a step name (lower case letters, digits and -), got " + quote(v)
	}
	return ""
}

func checkURL(field, v string) string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return field + ": want an absolute http(s) URL, got " + quote(v)
	}
	return ""
}

func quote(v string) string {
	if v == "" {
		return "nothing"
	}
	return `"` + v + `"`
}

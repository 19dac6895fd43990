// Package domain holds Rollin's vocabulary: the identifiers of municipalities and services,
// the EfA-Steckbrief, and the states a roll-in and its steps move through. It has no
// dependencies so that every other package, including the deterministic workflows, can use it.
package domain

import (
	"fmt"
	"strings"
)

// ARS is the 12-digit Amtlicher Regionalschlüssel of a municipality:
// Land (2), Regierungsbezirk (1), Kreis (2), Gemeindeverband (4), Gemeinde (3).
// It is the key municipalities are known by in Rollin and in the portal directory.
type ARS string

// ParseARS validates s as a 12-digit ARS. Surrounding spaces are ignored because the
// value is often pasted from spreadsheets.
func ParseARS(s string) (ARS, error) {
	s = strings.TrimSpace(s)
	if !Digits(s, 12) {
		return "", fmt.Errorf("ARS %q: want exactly 12 digits (Land 2, Regierungsbezirk 1, Kreis 2, Gemeindeverband 4, Gemeinde 3)", s)
	}
	return ARS(s), nil
}

// Land returns the 2-digit Land part (e.g. "05" for Nordrhein-Westfalen).
func (a ARS) Land() string { return string(a)[:2] }

// Kreis returns the 5-digit Kreis key (Land, Regierungsbezirk, Kreis), the key the
// Destatis Kreis list and filters use.
func (a ARS) Kreis() string { return string(a)[:5] }

// AGS returns the 8-digit Amtlicher Gemeindeschlüssel contained in the ARS
// (Land, Regierungsbezirk, Kreis, Gemeinde), the key older systems still use.
func (a ARS) AGS() string { return string(a)[:5] + string(a)[9:] }

// URN prefixes of services and areas, as FIT-Connect destinations and routes and the PVOG
// carry them.
const (
	ServiceURNPrefix = "urn:de:fim:leika:leistung:"
	AreaURNPrefix    = "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:"
)

// AreaURN returns the area identifier FIT-Connect and the PVOG use for this ARS.
func (a ARS) AreaURN() string { return AreaURNPrefix + string(a) }

// ServiceKey is the 14-digit FIM/LeiKa Leistungsschlüssel of an EfA service; it starts with 99.
type ServiceKey string

// ParseServiceKey validates s as a Leistungsschlüssel.
func ParseServiceKey(s string) (ServiceKey, error) {
	s = strings.TrimSpace(s)
	if !Digits(s, 14) || !strings.HasPrefix(s, "99") {
		return "", fmt.Errorf("service key (Leistungsschlüssel) %q: want 14 digits starting with 99", s)
	}
	return ServiceKey(s), nil
}

// URN returns the service identifier as FIT-Connect destinations and routes carry it.
func (k ServiceKey) URN() string { return ServiceURNPrefix + string(k) }

// RunID returns the deterministic workflow ID of the roll-in of service into ars, so that
// starting the same roll-in twice finds the first one instead of creating a second.
func RunID(ars ARS, service ServiceKey) string {
	return "rollin/" + string(ars) + "/" + string(service)
}

// Digits reports whether s is exactly n ASCII digits: the shape of Land (2), Kreis (5),
// ARS (12) and Leistungsschlüssel (14) keys. One helper, so every front end and importer
// checks keys alike.
func Digits(s string, n int) bool { return len(s) == n && AllDigits(s) }

// AllDigits reports whether s is non-empty and made of ASCII digits only (no signs,
// spaces or other scripts' digits).
func AllDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

package domain

import (
	"fmt"
	"regexp"
)

// Organisation is a Kommunalvertreter organisation sharing one installation, e.g.
// "d-nrw", "baykommun", "itvsh", "ego-saar". Runs, campaigns and tokens belong to one;
// project managers and operators see and act only within theirs. The empty organisation
// is the installation's own (the only one where no organisations are configured), so an
// installation without organisations works as before. A service with an organisation is
// that organisation's; one without is in the catalogue of all.
type Organisation string

var organisationPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ParseOrganisation checks an organisation key: lower-case letters, digits and hyphens,
// at most 40 characters, or empty.
func ParseOrganisation(s string) (Organisation, error) {
	if s != "" && !organisationPattern.MatchString(s) {
		return "", fmt.Errorf("organisation %q: want lower-case letters, digits and hyphens (at most 40), e.g. d-nrw", s)
	}
	return Organisation(s), nil
}

package catalog_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	svcs := catalog.Demo()
	require.GreaterOrEqual(t, len(svcs), 3)

	keys := map[domain.ServiceKey]bool{}
	transportSets := map[string]bool{}
	payment := map[bool]bool{}
	for _, s := range svcs {
		require.NoError(t, s.Validate())
		require.False(t, keys[s.Key], "duplicate key %s", s.Key)
		keys[s.Key] = true

		ts := make([]string, len(s.Transports))
		for i, tr := range s.Transports {
			ts[i] = string(tr)
		}
		transportSets[strings.Join(ts, "+")] = true
		payment[s.PaymentRequired] = true

		require.NotEmpty(t, s.Lands, "%s: covered nowhere", s.Key)
		require.NotEmpty(t, s.Costs, "%s: no costs", s.Key)
		require.NotEmpty(t, s.Contacts, "%s: no contacts", s.Key)
		for _, c := range s.Contacts {
			require.NotEmpty(t, c.Role)
			require.NotEmpty(t, c.Name)
			require.True(t, strings.HasSuffix(c.Email, "@example.org"), "%s: contact %s must use an example domain", s.Key, c.Email)
		}
	}
	require.Len(t, transportSets, len(svcs), "each demo service has its own transport routes")
	require.Equal(t, map[bool]bool{true: true, false: true}, payment, "both payment cases are present")

	// A municipality in Schleswig-Holstein is blocked from at least one demo service, so
	// the pre-check's blocked path can be exercised with demo data.
	blocked := false
	for _, s := range svcs {
		if !s.OfferedIn("01") {
			blocked = true
		}
	}
	require.True(t, blocked)
}

func TestDemoReturnsFreshCopies(t *testing.T) {
	t.Parallel()
	a := catalog.Demo()
	a[0].Name = "changed"
	a[0].Lands[0] = "99"
	b := catalog.Demo()
	require.NotEqual(t, "changed", b[0].Name)
	require.NotEqual(t, "99", b[0].Lands[0])
}

func TestDemoActivationDates(t *testing.T) {
	t.Parallel()
	for _, s := range catalog.Demo() {
		for i := 1; i < len(s.ActivationDates); i++ {
			require.True(t, s.ActivationDates[i-1].Before(s.ActivationDates[i]), "%s: Stichtage in order", s.Key)
		}
	}
}

func TestDemoKeysAreDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, s := range catalog.Demo() {
		require.Contains(t, string(readme), "`"+string(s.Key)+"`", "README.md must name the source of %s", s.Key)
	}
}

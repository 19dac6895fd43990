package fitconnect_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/fitconnect"
)

func TestSubscribersForPicksTheLongestPrefix(t *testing.T) {
	t.Parallel()
	subs := fitconnect.Subscribers{{Area: "05"}, {Area: "053700"}, {Area: "05370"}, {Area: "053700012012"}}
	for ars, want := range map[string]string{
		"055150000000": "05",           // the Land's provider
		"053700004004": "053700",       // the longer of two matching prefixes, whatever their order
		"053700012012": "053700012012", // one municipality of its own
		"053750000000": "05",
	} {
		got, ok := subs.For(ars)
		require.True(t, ok, ars)
		require.Equal(t, want, got.Area, ars)
	}
	_, ok := subs.For("091620000000")
	require.False(t, ok, "no subscriber serves Bavaria")

	all := append(fitconnect.Subscribers{{Area: ""}}, subs...)
	got, ok := all.For("091620000000")
	require.True(t, ok)
	require.Empty(t, got.Area, "the catch-all serves the rest")
}

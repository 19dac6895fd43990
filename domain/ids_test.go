package domain

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseARS(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want, err string
	}{
		"Münster":           {in: "055150000000", want: "055150000000"},
		"spaces trimmed":    {in: " 053150000000\t", want: "053150000000"},
		"AGS is not an ARS": {in: "05515000", err: "want exactly 12 digits"},
		"letters":           {in: "05515000000x", err: "want exactly 12 digits"},
		"too long":          {in: "0551500000000", err: "want exactly 12 digits"},
		"empty":             {in: "", err: "want exactly 12 digits"},
		"non-ASCII digits":  {in: "٠٥٥١٥٠٠٠٠٠٠٠", err: "want exactly 12 digits"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseARS(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ARS(tc.want), got)
		})
	}
}

func TestARSParts(t *testing.T) {
	t.Parallel()
	a := ARS("053340002002") // Aachen, in the StädteRegion Aachen
	require.Equal(t, "05", a.Land())
	require.Equal(t, "05334", a.Kreis())
	require.Equal(t, "05334002", a.AGS())
	require.Equal(t, "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:053340002002", a.AreaURN())
}

func TestParseServiceKey(t *testing.T) {
	t.Parallel()
	k, err := ParseServiceKey("99107023037000")
	require.NoError(t, err)
	require.Equal(t, "urn:de:fim:leika:leistung:99107023037000", k.URN())
	require.Equal(t, "rollin/055150000000/99107023037000", RunID("055150000000", k))
	for _, bad := range []string{"9910702303700", "10107023037000", "99107023037OOO", ""} {
		_, err := ParseServiceKey(bad)
		require.ErrorContains(t, err, "want 14 digits starting with 99", bad)
	}
}

func TestServiceValidate(t *testing.T) {
	t.Parallel()
	good := Service{Key: "99107023037000", Name: "Wohngeld", Provider: "Dataport", Fachverfahren: []string{"OK.SOZIUS"},
		Transports: []Transport{TransportFITConnect}, Lands: []string{"01"},
		SubmissionSchemas: []SubmissionSchema{{SchemaURI: "https://schema.fitko.de/fim/s00000000009_1.0.0.schema.json", MimeType: "application/json"}}}
	require.NoError(t, good.Validate())
	tests := map[string]struct {
		change func(*Service)
		err    string
	}{
		"bad key":                    {func(s *Service) { s.Key = "1" }, "service key"},
		"no name":                    {func(s *Service) { s.Name = "" }, "name is empty"},
		"no provider":                {func(s *Service) { s.Provider = "" }, "provider is empty"},
		"no transport":               {func(s *Service) { s.Transports = nil }, "no transport route"},
		"unknown transport":          {func(s *Service) { s.Transports = []Transport{"fax"} }, `unknown transport "fax"`},
		"no Fachverfahren":           {func(s *Service) { s.Fachverfahren = nil }, "no compatible Fachverfahren"},
		"bad Land":                   {func(s *Service) { s.Lands = []string{"NW"} }, `Land key "NW"`},
		"fit-connect without schema": {func(s *Service) { s.SubmissionSchemas = nil }, "submission_schemas: a service delivered by fit-connect needs at least one"},
		"relative schema URI": {func(s *Service) {
			s.SubmissionSchemas = []SubmissionSchema{{SchemaURI: "wohngeld.json", MimeType: "application/json"}}
		},
			`submission_schemas[0]: schema_uri "wohngeld.json": want an absolute URI`},
		"bad MIME type": {func(s *Service) { s.SubmissionSchemas = []SubmissionSchema{{SchemaURI: "urn:x:y", MimeType: "json"}} },
			`submission_schemas[0]: mime_type "json"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := good
			tc.change(&s)
			require.ErrorContains(t, s.Validate(), tc.err)
		})
	}
}

package config

import (
	"fmt"
	"net/url"
	"regexp"
)

// FitConnect locates FIT-Connect, through which the destination step creates each
// municipality's Zustellpunkt. Pointing Rollin at FITKO's test environment is setting
// these keys; `rollin-dev` fills the empty URLs with its simulator.
type FitConnect struct {
	// SubmissionURL is the Submission API, whose destination management the step uses
	// (e.g. https://submission-api-testing.fit-connect.fitko.dev).
	SubmissionURL string `mapstructure:"submission_url"`
	// TokenURL is the OAuth 2.0 token endpoint of the same environment.
	TokenURL string `mapstructure:"token_url"`
	// MetadataVersions are the versions of FIT-Connect's metadata schema the destinations
	// accept.
	MetadataVersions []string `mapstructure:"metadata_versions"`
	// Subscribers are the API clients that manage destinations, each for the
	// municipalities under its ARS prefix.
	Subscribers []Subscriber `mapstructure:"subscribers"`
	// Sender is the API client (of type sender) with which the test step sends each
	// municipality's destination a test submission, as the service's online form will.
	Sender Sender `mapstructure:"sender"`
}

// Sender is a FIT-Connect sender API client: FIT-Connect gives senders and subscribers
// different clients, so Rollin's test submissions need one besides the subscribers.
type Sender struct {
	ClientID string `mapstructure:"client_id"`
	// ClientSecret is a secret: it is never logged; keep the file readable by Rollin only.
	ClientSecret string `mapstructure:"client_secret" yaml:"client_secret,omitempty"`
}

// Subscriber is one FIT-Connect API client (subscriber) and the receiving system behind
// it. Municipalities are usually served by their Kreis's or Land's IT service provider,
// so a subscriber covers an ARS prefix: "05" a Land, "05370" a Kreis, twelve digits one
// municipality, empty every municipality; the longest matching prefix wins.
type Subscriber struct {
	ARS      string `mapstructure:"ars"`
	ClientID string `mapstructure:"client_id"`
	// ClientSecret is a secret: it is never logged; keep the file readable by Rollin only.
	ClientSecret string `mapstructure:"client_secret" yaml:"client_secret,omitempty"`
	// EncryptionCertFile is a PEM file with the receiving system's encryption certificate
	// chain (leaf first, RSA of at least 4096 bits): the public key senders encrypt with.
	EncryptionCertFile string `mapstructure:"encryption_cert_file"`
	// CallbackURL (https) is where FIT-Connect tells the receiving system of new
	// submissions; CallbackSecret (at least 32 characters) keys the callbacks' HMAC.
	CallbackURL    string `mapstructure:"callback_url"`
	CallbackSecret string `mapstructure:"callback_secret" yaml:"callback_secret,omitempty"`
}

var (
	arsPrefix       = regexp.MustCompile(`^[0-9]{0,12}$`)
	metadataVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

func (f FitConnect) validate() error {
	for key, raw := range map[string]string{"fitconnect.submission_url": f.SubmissionURL, "fitconnect.token_url": f.TokenURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return &KeyError{key, fmt.Sprintf("%q is not an http(s) URL without user info", raw)}
		}
	}
	if (f.SubmissionURL == "") != (f.TokenURL == "") {
		return &KeyError{"fitconnect.token_url", "submission_url and token_url go together (the Submission API needs tokens from its environment)"}
	}
	if len(f.MetadataVersions) == 0 {
		return &KeyError{"fitconnect.metadata_versions", "at least one metadata schema version is required, e.g. 1.2.0"}
	}
	for _, v := range f.MetadataVersions {
		if !metadataVersion.MatchString(v) {
			return &KeyError{"fitconnect.metadata_versions", fmt.Sprintf("%q: want a version like 1.2.0", v)}
		}
	}
	if (f.Sender.ClientID == "") != (f.Sender.ClientSecret == "") {
		return &KeyError{"fitconnect.sender.client_secret", "client_id and client_secret go together"}
	}
	seen, secrets := map[string]bool{}, map[string]string{}
	for i, s := range f.Subscribers {
		key := fmt.Sprintf("fitconnect.subscribers[%d]", i)
		u, err := url.Parse(s.CallbackURL)
		switch {
		// One digit is no Land; an unquoted 05 in YAML arrives as "5".
		case !arsPrefix.MatchString(s.ARS) || len(s.ARS) == 1 || (len(s.ARS) >= 2 && (s.ARS[:2] < "01" || s.ARS[:2] > "16")):
			return &KeyError{key + ".ars", fmt.Sprintf("%q: want an ARS prefix of up to 12 digits starting with a Land key 01–16 (quote it in YAML, or the leading zero is lost), empty for all", s.ARS)}
		case seen[s.ARS]:
			return &KeyError{key + ".ars", fmt.Sprintf("%q is served by an earlier subscriber already", s.ARS)}
		case s.ClientID == "":
			return &KeyError{key + ".client_id", "must not be empty"}
		case s.ClientSecret == "":
			return &KeyError{key + ".client_secret", "must not be empty"}
		case secrets[s.ClientID] != "" && secrets[s.ClientID] != s.ClientSecret:
			return &KeyError{key + ".client_secret", fmt.Sprintf("client %q appears earlier with another secret", s.ClientID)}
		case s.EncryptionCertFile == "":
			return &KeyError{key + ".encryption_cert_file", "must not be empty (the receiving system's encryption certificate, PEM)"}
		case err != nil || u.Scheme != "https" || u.Host == "":
			return &KeyError{key + ".callback_url", fmt.Sprintf("%q is not an https URL", s.CallbackURL)}
		case s.CallbackSecret == "":
			return &KeyError{key + ".callback_secret", "must not be empty"}
		}
		seen[s.ARS], secrets[s.ClientID] = true, s.ClientSecret
	}
	return nil
}

package fitconnect

import "strings"

// Subscriber is one FIT-Connect API client with what the destinations it manages carry
// besides the municipality's own data: the receiving system's encryption key and its
// callback. Municipalities are mostly served by their Kreis's or Land's IT service
// provider, so a subscriber covers an ARS prefix.
type Subscriber struct {
	// Area is the ARS prefix served: "05" a Land, "05370" a Kreis, 12 digits one
	// municipality, "" every municipality.
	Area           string
	Client         *Client
	EncryptionKey  JWK
	CallbackURL    string
	CallbackSecret Secret
}

// Subscribers are an installation's subscribers.
type Subscribers []Subscriber

// For returns the subscriber that serves the municipality ars: the one whose Area is
// the longest prefix of it.
func (s Subscribers) For(ars string) (Subscriber, bool) {
	best := -1
	for i, sub := range s {
		if strings.HasPrefix(ars, sub.Area) && (best < 0 || len(sub.Area) > len(s[best].Area)) {
			best = i
		}
	}
	if best < 0 {
		return Subscriber{}, false
	}
	return s[best], true
}

package simulator

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The FIT-Connect simulator's tables in the journal (see persist.go).
const (
	tableFCToken = "fc-token" // access token → tokenRecord
	tableFCCount = "fc-count" // "issued", "unauthorized" → count
	tableFCDest  = "fc-dest"  // destination ID → destRecord
	tableFCSub   = "fc-sub"   // submission ID → fcSubRecord
	tableFCKey   = "fc-key"   // "service", "receiver" → keyRecord: the simulator's own signature keys
)

type tokenRecord struct {
	Client  string    `json:"client"`
	Expires time.Time `json:"expires"`
}

type destRecord struct {
	Owner  string           `json:"owner"`
	Body   fcBody           `json:"body"`
	Secret string           `json:"secret"`
	Keys   map[string]fcJWK `json:"keys"`
}

type fcSubRecord struct {
	Ref       fcSubmissionRef `json:"ref"`
	Sender    string          `json:"sender"`
	Service   fcServiceType   `json:"service"`
	Submitted bool            `json:"submitted"`
	Meta      string          `json:"meta,omitempty"`
	Data      string          `json:"data,omitempty"`
	Events    []string        `json:"events"`
	Polls     int             `json:"polls"`
	Decided   bool            `json:"decided"`
}

// keyRecord is a signature key the simulator made: kept, so that the events it signed
// before a restart still verify against the keys it publishes after it.
type keyRecord struct {
	Private []byte `json:"private"` // PKCS #1 DER
	JWK     fcJWK  `json:"jwk"`
}

// OpenFitConnect returns a FIT-Connect simulator whose state is kept in cfg.StateDir
// (loaded from it when there), or in memory when that is empty, like Open.
func OpenFitConnect(cfg Config, fc FitConnectConfig) (*FitConnect, error) {
	f := newFitConnect(cfg, fc)
	if err := f.sim.openState(); err != nil {
		return nil, err
	}
	return f, nil
}

// keyPair returns the simulator's signature keys: those in its state, or else the
// process's (made on first use) from now on kept in the state. Call with sim.mu held.
func (f *FitConnect) keyPair() (simKeyPair, error) {
	if f.keys != nil {
		return *f.keys, nil
	}
	k, err := simKeys()
	if err != nil {
		return k, err
	}
	f.keys = &k
	for name, key := range map[string]simKey{"service": k.service, "receiver": k.receiver} {
		f.sim.mark(tableFCKey, name, func() any {
			return keyRecord{Private: x509.MarshalPKCS1PrivateKey(key.priv), JWK: key.jwk}
		})
	}
	return k, nil
}

func (f *FitConnect) markToken(tok string) {
	f.sim.mark(tableFCToken, tok, func() any {
		if t, ok := f.tokens[tok]; ok {
			return tokenRecord{Client: t.client, Expires: t.expires}
		}
		return nil
	})
}

func (f *FitConnect) markCount(name string, n *int) {
	f.sim.mark(tableFCCount, name, func() any { return *n })
}

func (f *FitConnect) markDest(d *fcDestination) {
	f.sim.mark(tableFCDest, d.id, func() any { return d.record() })
}

func (f *FitConnect) markSub(sub *fcSubmission) {
	f.sim.mark(tableFCSub, sub.ref.SubmissionID, func() any { return sub.record() })
}

func (d *fcDestination) record() destRecord {
	return destRecord{Owner: d.owner, Body: d.body, Secret: d.secret, Keys: d.keys}
}

func (sub *fcSubmission) record() fcSubRecord {
	return fcSubRecord{Ref: sub.ref, Sender: sub.sender, Service: sub.service, Submitted: sub.submitted,
		Meta: sub.meta, Data: sub.data, Events: sub.events, Polls: sub.polls, Decided: sub.decided}
}

// apply loads an entry of FIT-Connect's tables; see stateExt.
func (f *FitConnect) apply(e journalEntry) (bool, error) {
	decode := func(v any) error { return json.Unmarshal(e.V, v) }
	var err error
	switch e.T {
	case tableFCToken:
		if len(e.V) == 0 {
			delete(f.tokens, e.K)
			break
		}
		var t tokenRecord
		if err = decode(&t); err == nil {
			f.tokens[e.K] = issuedToken{client: t.Client, expires: t.Expires}
		}
	case tableFCCount:
		switch e.K {
		case "issued":
			err = decode(&f.issued)
		case "unauthorized":
			err = decode(&f.unauthorized)
		}
	case tableFCDest:
		var r destRecord
		if err = decode(&r); err == nil {
			if r.Keys == nil {
				r.Keys = map[string]fcJWK{}
			}
			if _, ok := f.dests[e.K]; !ok {
				// The IDs are zero-padded and numbered in creation order, so sorting
				// them restores the order destinations are listed in.
				i, _ := slices.BinarySearch(f.order, e.K)
				f.order = slices.Insert(f.order, i, e.K)
			}
			f.dests[e.K] = &fcDestination{id: e.K, owner: r.Owner, body: r.Body, secret: r.Secret, keys: r.Keys}
		}
	case tableFCSub:
		var r fcSubRecord
		if err = decode(&r); err == nil {
			sub := &fcSubmission{ref: r.Ref, sender: r.Sender, service: r.Service, submitted: r.Submitted,
				meta: r.Meta, data: r.Data, events: r.Events, polls: r.Polls, decided: r.Decided}
			f.subs[e.K] = sub
			f.cases[r.Ref.CaseID] = sub
		}
	case tableFCKey:
		var r keyRecord
		if err = decode(&r); err != nil {
			break
		}
		priv, perr := x509.ParsePKCS1PrivateKey(r.Private)
		if perr != nil {
			return true, fmt.Errorf("signature key: %w", perr)
		}
		if f.keys == nil {
			f.keys = &simKeyPair{}
		}
		switch e.K {
		case "service":
			f.keys.service = simKey{priv: priv, jwk: r.JWK}
		case "receiver":
			f.keys.receiver = simKey{priv: priv, jwk: r.JWK}
		}
	default:
		return false, nil
	}
	return true, err
}

// dump lists FIT-Connect's state; tokens that have expired are left out.
func (f *FitConnect) dump(add func(table, key string, v any)) {
	now := f.fc.Now()
	for tok, t := range f.tokens {
		if now.Before(t.expires) {
			add(tableFCToken, tok, tokenRecord{Client: t.client, Expires: t.expires})
		}
	}
	add(tableFCCount, "issued", f.issued)
	add(tableFCCount, "unauthorized", f.unauthorized)
	for _, id := range f.order {
		add(tableFCDest, id, f.dests[id].record())
	}
	for id, sub := range f.subs {
		add(tableFCSub, id, sub.record())
	}
	if f.keys != nil {
		add(tableFCKey, "service", keyRecord{Private: x509.MarshalPKCS1PrivateKey(f.keys.service.priv), JWK: f.keys.service.jwk})
		add(tableFCKey, "receiver", keyRecord{Private: x509.MarshalPKCS1PrivateKey(f.keys.receiver.priv), JWK: f.keys.receiver.jwk})
	}
}

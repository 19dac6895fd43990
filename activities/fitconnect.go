package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/workflows"
)

// FitConnect is what the destination step needs of FIT-Connect: a client per subscriber
// and the metadata versions every destination accepts.
type FitConnect struct {
	Subscribers      fitconnect.Subscribers
	MetadataVersions []string
}

// newFitConnect builds a token source and client per configured subscriber and reads its
// encryption certificate, so that a missing file or a short key stops the worker at
// start-up with the key named. Without subscribers it returns nil: the installation does
// not connect municipalities by FIT-Connect, and the destination step says so.
func newFitConnect(cfg config.FitConnect, hc *http.Client) (*FitConnect, error) {
	if len(cfg.Subscribers) == 0 {
		return nil, nil
	}
	if cfg.SubmissionURL == "" {
		return nil, &config.KeyError{Key: "fitconnect.submission_url", Msg: "required with fitconnect.subscribers (and token_url with it)"}
	}
	fc := &FitConnect{MetadataVersions: cfg.MetadataVersions}
	for i, s := range cfg.Subscribers {
		key := fmt.Sprintf("fitconnect.subscribers[%d]", i)
		pemData, err := os.ReadFile(s.EncryptionCertFile)
		if err != nil {
			return nil, &config.KeyError{Key: key + ".encryption_cert_file", Msg: err.Error()}
		}
		jwk, err := fitconnect.ParseEncryptionKey(pemData)
		if err != nil {
			return nil, &config.KeyError{Key: key + ".encryption_cert_file", Msg: err.Error()}
		}
		ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{
			TokenURL: cfg.TokenURL, ClientID: s.ClientID, ClientSecret: fitconnect.Secret(s.ClientSecret), HTTPClient: hc,
		})
		if err != nil {
			return nil, &config.KeyError{Key: key, Msg: err.Error()}
		}
		cl, err := fitconnect.New(cfg.SubmissionURL, ts, hc)
		if err != nil {
			return nil, &config.KeyError{Key: "fitconnect.submission_url", Msg: err.Error()}
		}
		fc.Subscribers = append(fc.Subscribers, fitconnect.Subscriber{
			Area: s.ARS, Client: cl, EncryptionKey: jwk, CallbackURL: s.CallbackURL, CallbackSecret: fitconnect.Secret(s.CallbackSecret),
		})
	}
	return fc, nil
}

// EnsureDestination makes the municipality's FIT-Connect destination for the service
// exist as Rollin wants it — created, or updated where it differs, then read back and
// checked — through the subscriber that serves the municipality. Ensure finds an existing
// destination by its name, which names the municipality and the service, so a retry
// after a lost answer, a second round after a failed test, or a later roll-in of the
// same pair reuses the destination instead of creating another.
func (a *Activities) EnsureDestination(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	ars := string(in.Context.Municipality.ARS)
	var sub fitconnect.Subscriber
	found := false
	if a.FitConnect != nil {
		sub, found = a.FitConnect.Subscribers.For(ars)
	}
	if !found {
		return workflows.CallResult{}, classify(ctx, &systems.Error{System: fitconnect.System, Op: "ensure destination",
			Err: fmt.Errorf("no FIT-Connect subscriber serves ARS %s: add one to fitconnect.subscribers", ars)})
	}
	if len(in.Context.Service.SubmissionSchemas) == 0 {
		// A run that loaded its Steckbrief before submission schemas were recorded (or
		// before they were imported): read the Steckbrief again, so that importing it
		// with its schemas and retrying the step is enough.
		svc, err := a.Store.Service(ctx, in.Context.Service.Key)
		if err != nil {
			return workflows.CallResult{}, classify(ctx, err)
		}
		if len(svc.SubmissionSchemas) == 0 {
			return workflows.CallResult{}, classify(ctx, &systems.Error{System: fitconnect.System, Op: "ensure destination",
				Err: fmt.Errorf("the Steckbrief of %s names no submission_schemas: import it with them (rollin services import), then retry the step", svc.Key)})
		}
		in.Context.Service.SubmissionSchemas = svc.SubmissionSchemas
	}
	if connection(in).ContactAddress == "" {
		return workflows.CallResult{}, classify(ctx, &systems.Error{System: fitconnect.System, Op: "ensure destination",
			Err: errors.New("the connection data has no contact_address (submitted before it was asked for); a destination needs it: cancel the run and start it again")})
	}
	dest, err := sub.Client.Ensure(ctx, destinationFor(in, sub, a.FitConnect.MetadataVersions))
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, dest.ID)
}

// destinationFor is the destination of the run's municipality and service: the service
// with its LeiKa key, the municipality's ARS as its area and the Steckbrief's submission
// schemas; the municipality's contact from the questionnaire; the subscriber's key and
// callback; answers to applicants by e-mail.
func destinationFor(in workflows.CallInput, sub fitconnect.Subscriber, metadataVersions []string) fitconnect.Destination {
	m, svc, c := in.Context.Municipality, in.Context.Service, connection(in)
	schemas := make([]fitconnect.SubmissionSchema, len(svc.SubmissionSchemas))
	for i, s := range svc.SubmissionSchemas {
		schemas[i] = fitconnect.SubmissionSchema{SchemaURI: s.SchemaURI, MimeType: s.MimeType}
	}
	return fitconnect.Destination{
		Name:        DestinationName(m, svc),
		CallbackURL: sub.CallbackURL, CallbackSecret: sub.CallbackSecret,
		Contact:          fitconnect.Contact{LegalName: m.Name, Address: c.ContactAddress, Email: c.ContactEmail},
		ReplyChannels:    fitconnect.ReplyChannels{EMail: &fitconnect.EMailChannel{}},
		MetadataVersions: metadataVersions,
		Services: []fitconnect.Service{{
			LeikaKey: string(svc.Key), Areas: []string{string(m.ARS)}, SubmissionSchemas: schemas,
		}},
		EncryptionKey: sub.EncryptionKey,
	}
}

// DestinationName is the name of the destination of municipality m for service svc. It
// is how EnsureDestination finds the destination again, so it must stay the same for the
// pair: change it only together with a migration of the existing destinations.
func DestinationName(m domain.Municipality, svc domain.Service) string {
	return fmt.Sprintf("%s – %s (ARS %s, LeiKa %s)", m.Name, svc.Name, m.ARS, svc.Key)
}

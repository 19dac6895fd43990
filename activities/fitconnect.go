package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/workflows"
)

// FitConnect is what the destination and test steps need of FIT-Connect: a client per
// subscriber, the metadata versions every destination accepts, and the sender client
// that sends test submissions (nil when fitconnect.sender is not configured).
type FitConnect struct {
	Subscribers      fitconnect.Subscribers
	MetadataVersions []string
	Sender           *fitconnect.Client
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

// testProgress is what the FIT-Connect test heartbeats: the submission as announced and
// encrypted, so that a retried attempt follows it, and submits it byte for byte again if
// the submit was not logged, instead of announcing another.
type testProgress struct {
	FitConnect fitconnect.Sent `json:"fitConnect"`
}

// runFitConnectTest sends the municipality's destination a test submission as a
// FIT-Connect sender and follows the case's event log until the receiving system accepts
// or rejects it. A rejection is a result (the workflow loops back to Anbindung with the
// problems named), not an error.
func (a *Activities) runFitConnectTest(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	var progress testProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &progress); err != nil || progress.FitConnect.SubmissionID == "" {
			// An attempt that began before Rollin spoke FIT-Connect here heartbeated the
			// provider's submission ID: follow that submission to its end.
			var providerID string
			if activity.GetHeartbeatDetails(ctx, &providerID) == nil && providerID != "" {
				return a.followProviderTest(ctx, providerID)
			}
		}
	}
	if a.FitConnect == nil || a.FitConnect.Sender == nil {
		return workflows.CallResult{}, classify(ctx, &systems.Error{System: fitconnect.System, Op: "test submission",
			Err: errors.New("no FIT-Connect sender client: configure fitconnect.sender (client_id, client_secret), then retry the step")})
	}
	sender := a.FitConnect.Sender
	sent := progress.FitConnect
	if sent.SubmissionID == "" {
		if in.Refs.DestinationID == "" {
			return workflows.CallResult{}, classify(ctx, &systems.Error{System: fitconnect.System, Op: "test submission",
				Err: errors.New("the run knows no destination ID (the destination step did not record one)")})
		}
		var err error
		sent, err = sender.Prepare(ctx, in.IdempotencyKey+"/announce", fitconnect.TestSubmission{
			DestinationID: in.Refs.DestinationID, ServiceName: in.Context.Service.Name,
			LeikaKey: string(in.Context.Service.Key), Data: testData(in),
		})
		if err != nil {
			return workflows.CallResult{}, classify(ctx, err)
		}
	}
	submitted := false
	for {
		// The first heartbeat of an attempt reaches the server before RecordHeartbeat
		// returns (later ones are batched), so the announced, encrypted submission is on
		// record before it is submitted.
		activity.RecordHeartbeat(ctx, testProgress{FitConnect: sent})
		v, err := sender.Verdict(ctx, sent)
		if err == nil && !v.Submitted && !submitted {
			if err = sender.Submit(ctx, in.IdempotencyKey+"/submit", sent); err == nil {
				submitted = true
				continue
			}
		}
		switch {
		case err != nil && !systems.IsRetryable(err):
			return workflows.CallResult{}, classify(ctx, err)
		case err != nil:
			// Reading the log and submitting the same bytes again are safe to repeat: a
			// passing fault waits for the next poll instead of ending the attempt, within
			// the step's time limit.
			activity.GetLogger(ctx).Warn("test submission: will try again at the next poll", "submission", sent.SubmissionID, "error", err)
		case v.Final && v.Accepted:
			return done(ctx, sent.SubmissionID)
		case v.Final:
			res, _ := done(ctx, sent.SubmissionID)
			res.Rejected, res.Problem = true, v.Problem()
			return res, nil
		}
		if err := a.pause(ctx); err != nil {
			return workflows.CallResult{}, err
		}
	}
}

// testData is the content of a test submission: it says what it is, for the people who
// see it in their Fachverfahren, and which run sent it. It is the same for every attempt.
func testData(in workflows.CallInput) []byte {
	b, _ := json.Marshal(map[string]any{ // a map of strings and numbers always marshals
		"rollinTest": true,
		"hinweis":    "Technischer Vortest von Rollin für die Anbindung – bitte nicht bearbeiten.",
		"run":        in.RunID, "round": in.Round,
		"ars": string(in.Context.Municipality.ARS), "leikaKey": string(in.Context.Service.Key),
	})
	return b
}

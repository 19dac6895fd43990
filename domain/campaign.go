package domain

import "time"

// CampaignState is how far a campaign is with starting its roll-ins. The roll-ins
// themselves live on for weeks after their campaign has started them all.
type CampaignState string

// The states of a campaign. Started and cancelled are final.
const (
	CampaignStarting  CampaignState = "starting"
	CampaignPaused    CampaignState = "paused"
	CampaignStarted   CampaignState = "started"   // every roll-in has been started (or existed)
	CampaignCancelled CampaignState = "cancelled" // no further roll-ins are started; started ones go on
)

// Final reports whether the campaign starts no more roll-ins.
func (s CampaignState) Final() bool { return s == CampaignStarted || s == CampaignCancelled }

// Campaign rolls one service out to many municipalities (a Kreis, a Land, a list).
type Campaign struct {
	ID      string     `json:"id"`
	Service ServiceKey `json:"service"`
	// Organisation is the organisation of the project manager who started the campaign;
	// its roll-ins belong to it too.
	Organisation Organisation `json:"organisation,omitempty"`
	// Selector says how the municipalities were chosen, e.g. "land 05".
	Selector string        `json:"selector"`
	State    CampaignState `json:"state"`
	Total    int           `json:"total"`
	// Started counts roll-ins this campaign started; Existing those that were running or
	// done already (started by hand or by an overlapping campaign); Failed those Temporal
	// refused for another reason.
	Started   int       `json:"started"`
	Existing  int       `json:"existing"`
	Failed    int       `json:"failed"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Seq orders the campaign's writes to the read model, as RunStatus.Seq does for runs.
	Seq int64 `json:"seq"`
}

// CampaignProgress is a campaign with the states of its roll-ins, counted in the read model.
type CampaignProgress struct {
	Campaign
	// Runs counts the campaign's roll-ins by state; "pending" counts those not yet started
	// or not yet written by their workflow.
	Runs map[string]int `json:"runs"`
	// Stages counts the roll-ins that are not final by their current stage.
	Stages map[Stage]int `json:"stages"`
}

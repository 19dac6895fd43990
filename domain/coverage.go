package domain

// CoverageGroup is one bar of a coverage chart: the municipalities of a Land or Kreis and
// how many of them are in each state of a roll-in of one service. Municipalities without a
// run are Municipalities minus the sum of ByState.
type CoverageGroup struct {
	Key            string           `json:"key"`
	Name           string           `json:"name"`
	Municipalities int              `json:"municipalities"`
	ByState        map[RunState]int `json:"by_state"`
}

// NotStarted is how many municipalities of the group have no run of the service.
func (g CoverageGroup) NotStarted() int {
	n := g.Municipalities
	for _, c := range g.ByState {
		n -= c
	}
	return max(n, 0)
}

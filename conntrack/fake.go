package conntrack

import (
	"slices"
	"sync"
)

// Fake is an in-memory conntrack table. Safe for concurrent use.
type Fake struct {
	mu    sync.Mutex
	flows []Flow
	calls [][]Filter
}

var _ Interface = (*Fake)(nil)

// NewFake returns a table holding flows.
func NewFake(flows ...Flow) *Fake { return &Fake{flows: slices.Clone(flows)} }

// Add tracks more flows (traffic, in a test).
func (f *Fake) Add(flows ...Flow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows = append(f.flows, flows...)
}

// Delete removes the flows any filter matches.
func (f *Fake) Delete(filters []Filter) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, slices.Clone(filters))
	n := len(f.flows)
	f.flows = slices.DeleteFunc(f.flows, func(fl Flow) bool {
		return slices.ContainsFunc(filters, func(x Filter) bool { return x.Match(fl) })
	})
	return n - len(f.flows), nil
}

// Flows returns the flows left.
func (f *Fake) Flows() []Flow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.flows)
}

// Calls returns the filters of each Delete call so far.
func (f *Fake) Calls() [][]Filter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

package controllers

import (
	"slices"

	"k8s.io/apimachinery/pkg/types"
)

// fragCache remembers, per Service, the objects its fragment was built
// from, so that a periodic refresh (or a full sync) recomputes only the
// Services whose Service or EndpointSlices changed since. Objects are
// compared by identity and resourceVersion: the informer cache replaces an
// object on every update, so an unchanged pointer with an unchanged
// resourceVersion is the same object. Services and EndpointSlices are
// compared as the cache holds them (the slim objects: Source.Services,
// Source.SliceVersions), never expanded. Node-wide inputs (the node's
// addresses) are covered by a generation: bumping it invalidates every entry.
type fragCache struct {
	gen     uint64
	entries map[types.NamespacedName]fragInputs
	// nodeWide tells that invalidate or invalidateIf made entries stale
	// since the last walk over every Service began (see RefreshStep).
	nodeWide bool
}

type fragInputs struct {
	gen     uint64
	svc     *slimService // the cached object
	svcRV   string
	slices  []sliceRef
	problem string // the error ForService returned, "" when none
	dirty   bool   // an input besides the objects changed (invalidateIf)
}

// sliceRef is the identity of one cached EndpointSlice.
type sliceRef struct {
	sl *slimSlice
	rv string
}

func newFragCache() fragCache {
	return fragCache{entries: map[types.NamespacedName]fragInputs{}}
}

// invalidate makes every entry stale (the node's addresses changed).
func (c *fragCache) invalidate() { c.gen++; c.nodeWide = true }

// invalidateIf makes stale the entries whose Service matches.
func (c *fragCache) invalidateIf(match func(*slimService) bool) {
	for n, in := range c.entries {
		if !in.dirty && match(in.svc) {
			in.dirty = true
			c.entries[n] = in
			c.nodeWide = true
		}
	}
}

// record notes what the fragment of n was built from (refs is kept: the
// caller hands it over).
func (c *fragCache) record(n types.NamespacedName, svc *slimService, refs []sliceRef, problem string) {
	in := fragInputs{gen: c.gen, svc: svc, svcRV: svc.ResourceVersion, problem: problem}
	if len(refs) > 0 {
		in.slices = refs
	}
	c.entries[n] = in
}

// forget drops n (deleted).
func (c *fragCache) forget(n types.NamespacedName) { delete(c.entries, n) }

// current reports whether the fragment of n was built from exactly svc and
// the slices refs (in any order), and the problem it had then.
func (c *fragCache) current(n types.NamespacedName, svc *slimService, refs []sliceRef) (string, bool) {
	in, ok := c.entries[n]
	if !ok || in.dirty || in.gen != c.gen || in.svc != svc || in.svcRV != svc.ResourceVersion || len(in.slices) != len(refs) {
		return "", false
	}
	for _, r := range refs {
		if !slices.Contains(in.slices, r) {
			return "", false
		}
	}
	return in.problem, true
}

// names returns the Services of src and those with an entry (deleted ones
// among them), each once.
func (c *fragCache) names(src Source) []types.NamespacedName {
	svcs := src.Services()
	out := make([]types.NamespacedName, 0, len(svcs)+len(c.entries)/16)
	listed := make(map[types.NamespacedName]struct{}, len(svcs))
	for _, svc := range svcs {
		n := svc.name()
		out = append(out, n)
		listed[n] = struct{}{}
	}
	for n := range c.entries {
		// Not src.Service(n): a lister lookup builds its key string.
		if _, ok := listed[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// staleOne tells whether the fragment of n is out of date: n changed, is new
// or is gone.
func (c *fragCache) staleOne(src Source, n types.NamespacedName) bool {
	svc, ok := src.Service(n)
	if !ok {
		_, had := c.entries[n]
		return had
	}
	_, ok = c.current(n, svc, src.SliceVersions(n))
	return !ok
}

// stale returns the Services of src whose fragment is out of date, and the
// Services with a fragment that src no longer has.
func (c *fragCache) stale(src Source) []types.NamespacedName {
	var out []types.NamespacedName
	seen := make(map[types.NamespacedName]struct{}, len(c.entries))
	for _, svc := range src.Services() {
		n := svc.name()
		seen[n] = struct{}{}
		if _, ok := c.current(n, svc, src.SliceVersions(n)); !ok {
			out = append(out, n)
		}
	}
	for n := range c.entries {
		if _, ok := seen[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

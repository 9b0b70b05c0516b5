// Package drain decides graceful termination, purely: a TCP real server that
// leaves the desired set is set to weight 0 (no new connections) and kept
// until IPVS counts no connection to it, or until an optional bound passes;
// UDP and SCTP real servers are removed at once. Nothing here talks to the
// kernel: Apply rewrites a state.Plan, Check decides from one virtual
// server's destination dump.
//
// Restart-safe by construction: the kernel holds the state. A real server
// at weight 0 that is not desired is draining, whoever set the weight (we
// only ever desire weight 1), so a restarted process neither re-adds it at
// weight 1 nor deletes it while it has connections. The Tracker only
// remembers since when a server drains (for the bound) and which virtual
// servers to check; after a restart the bound starts again.
package drain

import (
	"maps"
	"slices"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Needed tells whether real servers of protocol p drain (TCP) or go at once
// (UDP, SCTP), as kube-proxy decides.
func Needed(p ipvs.Protocol) bool { return p == ipvs.TCP }

// Tracker records the draining real servers and since when they drain. The
// zero value is not usable; use NewTracker. Not safe for concurrent use.
type Tracker struct {
	since map[ipvs.Key]map[ipvs.RealServerKey]time.Time
	n     int
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{since: map[ipvs.Key]map[ipvs.RealServerKey]time.Time{}}
}

// Len is the number of draining real servers.
func (t *Tracker) Len() int { return t.n }

// Since tells since when real server r of k drains, if it does.
func (t *Tracker) Since(k ipvs.Key, r ipvs.RealServerKey) (time.Time, bool) {
	at, ok := t.since[k][r]
	return at, ok
}

// Services lists the virtual servers that have draining real servers, in
// Key.Compare order: what a check reads, one destination dump each.
func (t *Tracker) Services() []ipvs.Key {
	return slices.SortedFunc(maps.Keys(t.since), ipvs.Key.Compare)
}

// String lists the draining servers, "-t VIP:PORT -r RIP:PORT since RFC3339" a line.
func (t *Tracker) String() string {
	var s string
	for _, k := range t.Services() {
		for _, r := range slices.SortedFunc(maps.Keys(t.since[k]), ipvs.RealServerKey.Compare) {
			s += k.String() + " -r " + r.String() + " since " + t.since[k][r].UTC().Format(time.RFC3339) + "\n"
		}
	}
	return s
}

func (t *Tracker) add(k ipvs.Key, r ipvs.RealServerKey, now time.Time) {
	m := t.since[k]
	if m == nil {
		m = map[ipvs.RealServerKey]time.Time{}
		t.since[k] = m
	}
	if _, ok := m[r]; !ok {
		m[r] = now
		t.n++
	}
}

func (t *Tracker) remove(k ipvs.Key, r ipvs.RealServerKey) {
	m := t.since[k]
	if _, ok := m[r]; !ok {
		return
	}
	delete(m, r)
	t.n--
	if len(m) == 0 {
		delete(t.since, k)
	}
}

func (t *Tracker) removeService(k ipvs.Key) {
	t.n -= len(t.since[k])
	delete(t.since, k)
}

// Conns looks up the connection counts of real server r of k; known is
// false when they were not read (an incremental sync reads no kernel
// state), in which case the server drains and a later Check decides.
type Conns func(k ipvs.Key, r ipvs.RealServerKey) (c ipvs.Conns, known bool)

// Apply rewrites p, a plan from state.Diff, so that connections outlive
// the change, and records in t what drains:
//
//   - a TCP real server to delete is kept at weight 0 (an UpdateRealServers
//     op unless it is at weight 0 already) and tracked, unless its counts are
//     known to be zero or it has drained for bound (bound 0: no bound), in
//     which case it is deleted as planned;
//   - UDP and SCTP real servers are deleted as planned;
//   - a real server added or updated to a non-zero weight (an endpoint that
//     came back: restored in place) and the real servers of a deleted virtual
//     server stop being tracked.
//
// p's lists stay sorted. Apply does not change p's slices.
func Apply(p state.Plan, t *Tracker, now time.Time, bound time.Duration, conns Conns) state.Plan {
	out := p
	out.DeleteRealServers = nil
	out.UpdateRealServers = slices.Clone(p.UpdateRealServers)
	for op := range p.AddRealServers.All() {
		t.remove(op.Service, op.RealServer.RealServerKey)
	}
	for _, op := range p.UpdateRealServers {
		if op.RealServer.Weight != 0 {
			t.remove(op.Service, op.RealServer.RealServerKey)
		}
	}
	for _, k := range p.DeleteServices {
		t.removeService(k)
	}
	weighted := false
	for _, op := range p.DeleteRealServers {
		k, r := op.Service, op.RealServer.RealServerKey
		if !Needed(k.Protocol) || gone(t, k, r, now, bound, conns) {
			t.remove(k, r)
			out.DeleteRealServers = append(out.DeleteRealServers, op)
			continue
		}
		t.add(k, r, now)
		if op.RealServer.Weight != 0 {
			rs := op.RealServer
			rs.Weight = 0
			out.UpdateRealServers = append(out.UpdateRealServers, state.RealServerOp{Service: k, RealServer: rs})
			weighted = true
		}
	}
	if weighted {
		slices.SortFunc(out.UpdateRealServers, compareOp)
	}
	return out
}

// gone tells whether a draining (or about to drain) server may be deleted:
// its counts are known to be zero, or it has drained for bound.
func gone(t *Tracker, k ipvs.Key, r ipvs.RealServerKey, now time.Time, bound time.Duration, conns Conns) bool {
	if conns != nil {
		if c, known := conns(k, r); known && c.Zero() {
			return true
		}
	}
	since, ok := t.Since(k, r)
	return ok && bound > 0 && now.Sub(since) >= bound
}

// Check decides for virtual server k from its destination dump (rss and
// their counts, as ipvs.Interface.RealServers returns them) which draining
// real servers to delete now: those with no connection left and those that
// have drained for bound. Those stop being tracked, and so do tracked
// servers that are gone from the kernel or back at a non-zero weight. The
// result is sorted. A delete that then fails is planned again by the next
// full sync's Diff (the server is at weight 0 and not desired) and tracked
// again by Apply.
func Check(t *Tracker, k ipvs.Key, rss []ipvs.RealServer, conns map[ipvs.RealServerKey]ipvs.Conns, now time.Time, bound time.Duration) []state.RealServerOp {
	tracked := t.since[k]
	if len(tracked) == 0 {
		return nil
	}
	var del []state.RealServerOp
	present := make(map[ipvs.RealServerKey]struct{}, len(rss))
	for _, rs := range rss {
		present[rs.RealServerKey] = struct{}{}
		since, ok := tracked[rs.RealServerKey]
		if !ok {
			continue
		}
		switch {
		case rs.Weight != 0:
			t.remove(k, rs.RealServerKey)
		case conns[rs.RealServerKey].Zero(), bound > 0 && now.Sub(since) >= bound:
			t.remove(k, rs.RealServerKey)
			del = append(del, state.RealServerOp{Service: k, RealServer: rs})
		}
	}
	for r := range t.since[k] {
		if _, ok := present[r]; !ok {
			t.remove(k, r)
		}
	}
	slices.SortFunc(del, compareOp)
	return del
}

func compareOp(a, b state.RealServerOp) int {
	if c := a.Service.Compare(b.Service); c != 0 {
		return c
	}
	return a.RealServer.RealServerKey.Compare(b.RealServer.RealServerKey)
}

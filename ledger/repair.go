package ledger

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Lost holds the ledger members whose record was lost: members the
// reconciler's cache (what this process wrote and read before) says are in
// the kernel but that a full sync did not find there, because their set was
// destroyed or flushed, or they were deleted one by one. A restarted process
// has no such memory: a missing or empty set then looks exactly like the
// first start on a node whose virtual servers are someone else's
// (kube-proxy's, say), so nothing counts as lost.
type Lost map[state.Member]bool

// LostFrom returns the members of cached that are ledger members and are not
// in found (what the kernel's ledger sets hold).
func LostFrom(cached, found state.MemberSet) Lost {
	lost := Lost{}
	for m := range cached.All() {
		if found.Has(m) {
			continue
		}
		if _, ok, _ := Records(m); ok {
			lost[m] = true
		}
	}
	return lost
}

// Adopt decides whether vs, a virtual server found in the kernel with no
// ledger record, is ours after all and so is re-adopted in place: its ledger
// member (the result) is written and it is kept with its connections, neither
// deleted and re-created nor left alone as foreign. The reconciler then
// diffs it as usual (real servers, and scheduler or persistence in place).
//
// The rule: either
//   - a member recording vs's key was lost (see Lost): this process wrote
//     it, so the virtual server is ours whatever it looks like now and
//     whether or not it is still desired (the diff then edits or deletes
//     it), or
//   - want (the whole desired state) holds exactly vs (same scheduler and
//     persistence) with its ClusterIP member, and vs's address sits on our
//     dummy link (onDummy): only we put addresses there.
//
// So a foreign virtual server that merely shares a desired key (a NodePort
// one, or one off our dummy link, or with other settings, while we lost no
// record of it) is never taken over; it stays foreign and its Service gets
// a conflict problem.
func Adopt(vs ipvs.VirtualServer, want state.Wanted, lost Lost, onDummy func(netip.Addr) bool) (state.Member, bool) {
	for _, m := range Members(vs.Key) {
		if lost[m] {
			return m, true
		}
	}
	w := want.WantService(vs.Key)
	if w == nil || w.VirtualServer != vs || onDummy == nil || !onDummy(vs.Address) {
		return state.Member{}, false
	}
	m := Members(vs.Key)[0] // the ClusterIP one
	if !want.WantsMember(m) {
		return state.Member{}, false
	}
	return m, true
}

package ledger

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Lost tells, per ledger set, whether a full sync found it lost: missing or
// empty while the reconciler's cache (what this process wrote and read
// before) says it held members, so it was destroyed or flushed. A restarted
// process has no such memory, and a missing or empty set then looks exactly
// like the first start on a node whose virtual servers are someone else's
// (kube-proxy's, say): it does not count as lost.
type Lost map[string]bool

// LostSet reports whether a set found with n members (0 when it was
// missing) was lost, cached being how many members the cache says it holds.
func LostSet(n, cached int) bool { return n == 0 && cached > 0 }

// Adopt decides whether vs, a virtual server found in the kernel with no
// ledger record, is ours after all and so is re-adopted in place: its ledger
// member (the result) is written and it is kept with its connections, neither
// deleted and re-created nor left alone as foreign. The reconciler then
// diffs its real servers as usual.
//
// The rule: want (the whole desired state) holds exactly this virtual server
// (same key, scheduler and persistence) together with the member recording
// it, and either
//   - the ledger set that member belongs to was lost (see Lost), or
//   - it is a ClusterIP virtual server whose address sits on our dummy link
//     (onDummy): only we put addresses there.
//
// So a foreign virtual server that merely shares a desired key (another
// scheduler or persistence, or a NodePort or an address off our dummy link
// while the ledger is intact) is never taken over; it stays foreign and its
// Service gets a conflict problem.
func Adopt(vs ipvs.VirtualServer, want state.State, lost Lost, onDummy func(netip.Addr) bool) (state.Member, bool) {
	w, ok := want.Services[vs.Key]
	if !ok || w.VirtualServer != vs {
		return state.Member{}, false
	}
	for _, m := range Members(vs.Key) {
		if _, ok := want.Members[m]; !ok {
			continue
		}
		if lost[m.Set] {
			return m, true
		}
		if _, _, addr := Records(m); addr && onDummy != nil && onDummy(vs.Address) {
			return m, true
		}
	}
	return state.Member{}, false
}

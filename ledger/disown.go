package ledger

import (
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Disown says what to take back when virtual server k, which an apply set
// out to create, turned out to exist already and not be ours (EEXIST: someone
// made it since our last look at the kernel): the members recording k that
// this apply added (added), and k's address when this apply added it
// (addrAdded) and no other member in owned records it (see Records). Without
// this, the next full sync would read k as ours and take it over.
func Disown(k ipvs.Key, added func(state.Member) bool, addrAdded bool, owned state.MemberSet) (drop []state.Member, dropAddr bool) {
	for _, m := range Members(k) {
		if added(m) {
			drop = append(drop, m)
		}
	}
	if !addrAdded {
		return drop, false
	}
	for m := range owned.All() {
		if mk, ok, addr := Records(m); ok && addr && mk.Address == k.Address && mk != k {
			return drop, false
		}
	}
	return drop, true
}

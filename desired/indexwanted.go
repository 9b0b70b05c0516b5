package desired

import (
	"iter"
	"maps"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The Index is a state.Wanted: the whole desired state (All) read in
// place, for a full sync's diff without the copy.
var _ state.Wanted = (*Index)(nil)

// Sizes counts the desired virtual servers, addresses and members.
func (ix *Index) Sizes() (services, addresses, members int) {
	return len(ix.owners), len(ix.addrs), len(ix.members) + len(ix.wide)
}

// EachService yields every desired virtual server (the first owner's;
// shared, read-only).
func (ix *Index) EachService() iter.Seq2[ipvs.Key, *state.Service] {
	return func(yield func(ipvs.Key, *state.Service) bool) {
		for k, owners := range ix.owners {
			if !yield(k, ix.frags[owners[0]].service(k)) {
				return
			}
		}
	}
}

// WantService is Service.
func (ix *Index) WantService(k ipvs.Key) *state.Service { return ix.Service(k) }

// EachAddress is Addresses.
func (ix *Index) EachAddress() iter.Seq[netip.Addr] { return maps.Keys(ix.addrs) }

// WantsAddress tells whether some fragment holds address a.
func (ix *Index) WantsAddress(a netip.Addr) bool { return ix.addrs[a] > 0 }

// EachMember yields every desired member once.
func (ix *Index) EachMember() iter.Seq[state.Member] {
	return func(yield func(state.Member) bool) {
		for k := range ix.members {
			if !yield(k.Member()) {
				return
			}
		}
		for m := range ix.wide {
			if !yield(m) {
				return
			}
		}
	}
}

// WantsMember tells whether some fragment holds member m.
func (ix *Index) WantsMember(m state.Member) bool { return ix.wants(m) }

package state

import (
	"iter"
	"maps"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// Wanted is a desired state read where it is kept, so that a full sync
// diffs the desired Index (desired.Index) without first copying all of it
// into a State: at 100k Services that copy is a map of every member, address
// and virtual server, some 80 MB held across the diff. A State is one.
type Wanted interface {
	// Sizes counts the virtual servers, addresses and members.
	Sizes() (services, addresses, members int)
	EachService() iter.Seq2[ipvs.Key, *Service]
	// WantService returns virtual server k (shared: read-only), nil when
	// not wanted.
	WantService(k ipvs.Key) *Service
	EachAddress() iter.Seq[netip.Addr]
	WantsAddress(a netip.Addr) bool
	EachMember() iter.Seq[Member]
	WantsMember(m Member) bool
}

var _ Wanted = State{}

// Sizes counts s's virtual servers, addresses and members.
func (s State) Sizes() (services, addresses, members int) {
	return len(s.Services), len(s.Addresses), s.Members.Len()
}

// EachService yields s's virtual servers.
func (s State) EachService() iter.Seq2[ipvs.Key, *Service] { return maps.All(s.Services) }

// WantService returns s's virtual server k, nil when it has none.
func (s State) WantService(k ipvs.Key) *Service { return s.Services[k] }

// EachAddress yields s's addresses.
func (s State) EachAddress() iter.Seq[netip.Addr] { return maps.Keys(s.Addresses) }

// WantsAddress tells whether s holds address a.
func (s State) WantsAddress(a netip.Addr) bool { _, ok := s.Addresses[a]; return ok }

// EachMember yields s's members.
func (s State) EachMember() iter.Seq[Member] { return s.Members.All() }

// WantsMember tells whether s holds member m.
func (s State) WantsMember(m Member) bool { return s.Members.Has(m) }

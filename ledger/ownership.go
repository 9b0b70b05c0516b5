package ledger

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Ownership is what the ledger says ipvs-proxy owns.
type Ownership struct {
	services  map[ipvs.Key]struct{}
	addresses map[netip.Addr]struct{}
}

// Read reads ownership back from the members of our sets (as listed).
func Read(members state.MemberSet) Ownership {
	o := Ownership{services: map[ipvs.Key]struct{}{}, addresses: map[netip.Addr]struct{}{}}
	for m := range members.All() {
		k, ok, addr := Records(m)
		if !ok {
			continue
		}
		o.services[k] = struct{}{}
		if addr {
			o.addresses[k.Address] = struct{}{}
		}
	}
	return o
}

// OwnsService tells whether the virtual server k is ours.
func (o Ownership) OwnsService(k ipvs.Key) bool { _, ok := o.services[k]; return ok }

// OwnsAddress tells whether the dummy-link address a is ours.
func (o Ownership) OwnsAddress(a netip.Addr) bool { _, ok := o.addresses[a]; return ok }

// Owns tells whether members (ours, as listed or cached) record the
// virtual server k: Read(members).OwnsService(k), without reading them all.
func Owns(members state.MemberSet, k ipvs.Key) bool {
	n, e := SetsFor(k.Address), Entry(k)
	for _, set := range [...]string{n.ClusterIP, n.NodePort, n.ExternalIP, n.LoadBalancer} {
		if members.Has(state.Member{Set: set, Entry: e}) {
			return true
		}
	}
	return false
}

// ReadAddresses is Read for the addresses only (OwnsAddress); the
// virtual servers are left out.
func ReadAddresses(members state.MemberSet) Ownership {
	o := Ownership{addresses: map[netip.Addr]struct{}{}}
	for m := range members.All() {
		if k, ok, addr := Records(m); ok && addr {
			o.addresses[k.Address] = struct{}{}
		}
	}
	return o
}

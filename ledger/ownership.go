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
func Read(members map[state.Member]struct{}) Ownership {
	o := Ownership{services: map[ipvs.Key]struct{}{}, addresses: map[netip.Addr]struct{}{}}
	for m := range members {
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

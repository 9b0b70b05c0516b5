package desired

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The names of our ipsets, per family. They double as the ownership ledger:
// a virtual server is ours exactly when its (address, protocol, port) is a
// member of ClusterIPSet or NodePortSet, and a dummy-link address is ours when
// some member of ClusterIPSet carries it. Members are added before the objects
// they describe and removed after them, so a crash never leaves an object of
// ours unrecorded.
const (
	clusterIPSet4 = "IPVS-PROXY-CLUSTER-IP"
	nodePortSet4  = "IPVS-PROXY-NODE-PORT"
	hairpinSet4   = "IPVS-PROXY-HAIRPIN"
	clusterIPSet6 = "IPVS-PROXY6-CLUSTER-IP"
	nodePortSet6  = "IPVS-PROXY6-NODE-PORT"
	hairpinSet6   = "IPVS-PROXY6-HAIRPIN"
)

// SetNames are the three ipsets of one family.
type SetNames struct {
	ClusterIP, NodePort, Hairpin string
}

// Sets returns the set names of the family of a.
func Sets(a netip.Addr) SetNames {
	if a.Is4() {
		return SetNames{clusterIPSet4, nodePortSet4, hairpinSet4}
	}
	return SetNames{clusterIPSet6, nodePortSet6, hairpinSet6}
}

// SetsOf returns the set names of a rules family.
func SetsOf(f rules.Family) SetNames {
	if f == rules.IPv4 {
		return SetNames{clusterIPSet4, nodePortSet4, hairpinSet4}
	}
	return SetNames{clusterIPSet6, nodePortSet6, hairpinSet6}
}

// AllSets lists every ipset ipvs-proxy creates, IPv4 first.
func AllSets() []ipset.Set {
	var out []ipset.Set
	for _, f := range []rules.Family{rules.IPv4, rules.IPv6} {
		n := SetsOf(f)
		out = append(out,
			ipset.Set{Name: n.ClusterIP, Type: ipset.HashIPPort, Family: string(f)},
			ipset.Set{Name: n.NodePort, Type: ipset.HashIPPort, Family: string(f)},
			ipset.Set{Name: n.Hairpin, Type: ipset.HashIPPortIP, Family: string(f)},
		)
	}
	return out
}

// ledgerEntry is the set member recording that virtual server k is ours.
func ledgerEntry(k ipvs.Key) ipset.Entry {
	return ipset.Entry{IP: k.Address, Protocol: k.Protocol.String(), Port: k.Port}
}

// Ownership is what the ledger sets say ipvs-proxy owns.
type Ownership struct {
	services  map[ipvs.Key]struct{}
	addresses map[netip.Addr]struct{}
}

// OwnershipFrom reads ownership from the members of our sets (as observed).
func OwnershipFrom(members map[state.Member]struct{}) Ownership {
	o := Ownership{services: map[ipvs.Key]struct{}{}, addresses: map[netip.Addr]struct{}{}}
	for m := range members {
		n := Sets(m.Entry.IP)
		if m.Set != n.ClusterIP && m.Set != n.NodePort {
			continue
		}
		p, err := ipvs.ParseProtocol(m.Entry.Protocol)
		if err != nil {
			continue
		}
		o.services[ipvs.Key{Protocol: p, Address: m.Entry.IP, Port: m.Entry.Port}] = struct{}{}
		if m.Set == n.ClusterIP {
			o.addresses[m.Entry.IP] = struct{}{}
		}
	}
	return o
}

// OwnsService tells whether the virtual server k is ours.
func (o Ownership) OwnsService(k ipvs.Key) bool { _, ok := o.services[k]; return ok }

// OwnsAddress tells whether the dummy-link address a is ours.
func (o Ownership) OwnsAddress(a netip.Addr) bool { _, ok := o.addresses[a]; return ok }

// LedgerMembers returns the ledger members that record k (in either role).
func LedgerMembers(k ipvs.Key) []state.Member {
	n := Sets(k.Address)
	e := ledgerEntry(k)
	return []state.Member{{Set: n.ClusterIP, Entry: e}, {Set: n.NodePort, Entry: e}}
}

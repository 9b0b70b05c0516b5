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

// SetNames are the ipsets of one family. The first three are the core ones;
// the rest serve external IPs, load balancers, source ranges, health-check
// node ports and the dummy-link port filter (see external.go, extsets.go).
type SetNames struct {
	ClusterIP, NodePort, Hairpin string
	ExternalSets
}

// Sets returns the set names of the family of a.
func Sets(a netip.Addr) SetNames {
	if a.Is4() {
		return SetNames{clusterIPSet4, nodePortSet4, hairpinSet4, externalSets("IPVS-PROXY-")}
	}
	return SetNames{clusterIPSet6, nodePortSet6, hairpinSet6, externalSets("IPVS-PROXY6-")}
}

// SetsOf returns the set names of a rules family.
func SetsOf(f rules.Family) SetNames {
	if f == rules.IPv4 {
		return Sets(netip.IPv4Unspecified())
	}
	return Sets(netip.IPv6Unspecified())
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
		out = append(out, n.ExternalSets.all(string(f))...)
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
		if !RecordsService(m) {
			continue
		}
		p, err := ipvs.ParseProtocol(m.Entry.Protocol)
		if err != nil {
			continue
		}
		o.services[ipvs.Key{Protocol: p, Address: m.Entry.IP, Port: m.Entry.Port}] = struct{}{}
		if RecordsAddress(m) {
			o.addresses[m.Entry.IP] = struct{}{}
		}
	}
	return o
}

// OwnsService tells whether the virtual server k is ours.
func (o Ownership) OwnsService(k ipvs.Key) bool { _, ok := o.services[k]; return ok }

// OwnsAddress tells whether the dummy-link address a is ours.
func (o Ownership) OwnsAddress(a netip.Addr) bool { _, ok := o.addresses[a]; return ok }

// LedgerMembers returns the ledger members that record k (in any role:
// cluster IP, node port, external IP, load balancer).
func LedgerMembers(k ipvs.Key) []state.Member {
	n := Sets(k.Address)
	e := ledgerEntry(k)
	return []state.Member{{Set: n.ClusterIP, Entry: e}, {Set: n.NodePort, Entry: e},
		{Set: n.ExternalIP, Entry: e}, {Set: n.LoadBalancer, Entry: e}}
}

// RecordsService tells whether m is a ledger member: one that records a
// virtual server of ours (its address, protocol and port).
func RecordsService(m state.Member) bool {
	n := Sets(m.Entry.IP)
	switch m.Set {
	case n.ClusterIP, n.NodePort, n.ExternalIP, n.LoadBalancer:
		return true
	}
	return false
}

// RecordsAddress tells whether m is a ledger member that also records its
// IP as a dummy-link address of ours: cluster IPs, external IPs and
// load-balancer IPs are bound there, node addresses are not.
func RecordsAddress(m state.Member) bool {
	n := Sets(m.Entry.IP)
	switch m.Set {
	case n.ClusterIP, n.ExternalIP, n.LoadBalancer:
		return true
	}
	return false
}

// AddressMembers returns the set members that go with dummy-link address a
// (its VIPs entry): dropped or removed together with the address.
func AddressMembers(a netip.Addr) []state.Member {
	return []state.Member{{Set: Sets(a).VIPs, Entry: ipset.Entry{IP: a}}}
}

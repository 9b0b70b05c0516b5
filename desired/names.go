package desired

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The names of our ipsets, per family. The ClusterIP, NodePort, ExternalIP
// and LoadBalancer sets double as the ownership ledger, whose rules live in
// package ledger.
const (
	clusterIPSet4 = ledger.ClusterIPSet4
	nodePortSet4  = ledger.NodePortSet4
	hairpinSet4   = "IPVS-PROXY-HAIRPIN"
	clusterIPSet6 = ledger.ClusterIPSet6
	nodePortSet6  = ledger.NodePortSet6
	hairpinSet6   = "IPVS-PROXY6-HAIRPIN"
)

// SetNames are the ipsets of one family. The first three are the core ones;
// the rest serve external IPs, load balancers, source ranges, health-check
// node ports and the dummy-link port filter (see external.go, extsets.go).
type SetNames struct {
	ClusterIP, NodePort, Hairpin string
	ExternalSets
}

// The set names of each family, made once: Sets is called per member on
// the hot path (ten string concatenations a call were 30 of an
// incremental sync's ~120 allocations).
var (
	sets4 = SetNames{clusterIPSet4, nodePortSet4, hairpinSet4, externalSets("IPVS-PROXY-")}
	sets6 = SetNames{clusterIPSet6, nodePortSet6, hairpinSet6, externalSets("IPVS-PROXY6-")}
)

// Sets returns the set names of the family of a.
func Sets(a netip.Addr) SetNames {
	if a.Is4() {
		return sets4
	}
	return sets6
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
func ledgerEntry(k ipvs.Key) ipset.Entry { return ledger.Entry(k) }

// AddressMembers returns the set members that go with dummy-link address a
// (its VIPs entry): dropped or removed together with the address.
func AddressMembers(a netip.Addr) []state.Member {
	return []state.Member{{Set: Sets(a).VIPs, Entry: ipset.Entry{IP: a}}}
}

// Our sets' members pack into a state.MemberKey (the kernel cache and the
// Index hold them by the hundred thousand).
func init() {
	for _, s := range AllSets() {
		state.RegisterSets(s.Name)
	}
}

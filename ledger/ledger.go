// Package ledger is the one home of ipvs-proxy's ownership ledger: what we
// own in the kernel, how it is recorded, how it is read back, and how a lost
// ledger is repaired. It is pure; the reconciler does the kernel calls.
//
// What we own. A virtual server is ours exactly when its address,protocol:port
// is a member of one of the four ledger sets of its family: ClusterIP
// (IPVS-PROXY-CLUSTER-IP, IPv6 IPVS-PROXY6-CLUSTER-IP), NodePort
// (IPVS-PROXY-NODE-PORT), ExternalIP (IPVS-PROXY-EXTERNAL-IP) or
// LoadBalancer (IPVS-PROXY-LOAD-BALANCER). An address on the dummy link is
// ours when some member of the ClusterIP, ExternalIP or LoadBalancer set
// carries it (those addresses are bound there; node addresses are not).
// Nothing else is ours: every other virtual server is foreign and never
// touched.
//
// How it is recorded. A member is added before the object it records and
// removed after it (state.Plan.Ops encodes this as dependencies through
// Records), so a crash never leaves an object of ours unrecorded. A member
// whose add failed stops the objects it would record from being made; an
// object whose delete failed keeps its member.
//
// How it is read back. Read turns the listed members into an Ownership.
//
// How it is repaired: see Adopt.
package ledger

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The ledger sets, per family.
const (
	ClusterIPSet4    = "IPVS-PROXY-CLUSTER-IP"
	NodePortSet4     = "IPVS-PROXY-NODE-PORT"
	ExternalIPSet4   = "IPVS-PROXY-EXTERNAL-IP"
	LoadBalancerSet4 = "IPVS-PROXY-LOAD-BALANCER"
	ClusterIPSet6    = "IPVS-PROXY6-CLUSTER-IP"
	NodePortSet6     = "IPVS-PROXY6-NODE-PORT"
	ExternalIPSet6   = "IPVS-PROXY6-EXTERNAL-IP"
	LoadBalancerSet6 = "IPVS-PROXY6-LOAD-BALANCER"
)

// Sets are the four ledger sets of one family.
type Sets struct{ ClusterIP, NodePort, ExternalIP, LoadBalancer string }

// SetsFor returns the ledger sets of the family of a.
func SetsFor(a netip.Addr) Sets {
	if a.Is4() {
		return Sets{ClusterIPSet4, NodePortSet4, ExternalIPSet4, LoadBalancerSet4}
	}
	return Sets{ClusterIPSet6, NodePortSet6, ExternalIPSet6, LoadBalancerSet6}
}

// IsLedgerSet tells whether name is one of the ledger sets.
func IsLedgerSet(name string) bool {
	switch name {
	case ClusterIPSet4, NodePortSet4, ExternalIPSet4, LoadBalancerSet4,
		ClusterIPSet6, NodePortSet6, ExternalIPSet6, LoadBalancerSet6:
		return true
	}
	return false
}

// Entry is the set member recording virtual server k.
func Entry(k ipvs.Key) ipset.Entry {
	return ipset.Entry{IP: k.Address, Protocol: k.Protocol.String(), Port: k.Port}
}

// Members returns the members that may record k, one per ledger set (the
// desired state holds exactly one of them).
func Members(k ipvs.Key) []state.Member {
	n := SetsFor(k.Address)
	e := Entry(k)
	return []state.Member{{Set: n.ClusterIP, Entry: e}, {Set: n.NodePort, Entry: e},
		{Set: n.ExternalIP, Entry: e}, {Set: n.LoadBalancer, Entry: e}}
}

// Records tells what member m records: the virtual server k (ok false for a
// member of no ledger set, such as a hairpin entry, or one that does not
// parse) and whether it also records k's address on the dummy link
// (ClusterIP, ExternalIP and LoadBalancer members do). It is the
// state.Recorder the plan's dependencies use.
func Records(m state.Member) (k ipvs.Key, ok, address bool) {
	n := SetsFor(m.Entry.IP)
	switch m.Set {
	case n.ClusterIP, n.NodePort, n.ExternalIP, n.LoadBalancer:
	default:
		return ipvs.Key{}, false, false
	}
	p, err := ipvs.ParseProtocol(m.Entry.Protocol)
	if err != nil || m.Entry.IP2.IsValid() || m.Entry.Net.IsValid() {
		return ipvs.Key{}, false, false
	}
	return ipvs.Key{Protocol: p, Address: m.Entry.IP, Port: m.Entry.Port}, true, m.Set != n.NodePort
}

var _ state.Recorder = Records

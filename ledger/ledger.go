// Package ledger is the one home of ipvs-proxy's ownership ledger: what we
// own in the kernel, how it is recorded, how it is read back, and how a lost
// ledger is repaired. It is pure; the reconciler does the kernel calls.
//
// What we own. A virtual server is ours exactly when its address,protocol:port
// is a member of the ClusterIP set (IPVS-PROXY-CLUSTER-IP, IPv6
// IPVS-PROXY6-CLUSTER-IP) or of the NodePort set (IPVS-PROXY-NODE-PORT,
// IPVS-PROXY6-NODE-PORT). An address on the dummy link is ours when some
// member of the ClusterIP set carries it. Nothing else is ours: every other
// virtual server is foreign and never touched.
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
	ClusterIPSet4 = "IPVS-PROXY-CLUSTER-IP"
	NodePortSet4  = "IPVS-PROXY-NODE-PORT"
	ClusterIPSet6 = "IPVS-PROXY6-CLUSTER-IP"
	NodePortSet6  = "IPVS-PROXY6-NODE-PORT"
)

// Sets are the two ledger sets of one family.
type Sets struct{ ClusterIP, NodePort string }

// SetsFor returns the ledger sets of the family of a.
func SetsFor(a netip.Addr) Sets {
	if a.Is4() {
		return Sets{ClusterIPSet4, NodePortSet4}
	}
	return Sets{ClusterIPSet6, NodePortSet6}
}

// IsLedgerSet tells whether name is one of the ledger sets.
func IsLedgerSet(name string) bool {
	switch name {
	case ClusterIPSet4, NodePortSet4, ClusterIPSet6, NodePortSet6:
		return true
	}
	return false
}

// Entry is the set member recording virtual server k.
func Entry(k ipvs.Key) ipset.Entry {
	return ipset.Entry{IP: k.Address, Protocol: k.Protocol.String(), Port: k.Port}
}

// Members returns the members that may record k: the ClusterIP one and the
// NodePort one (the desired state holds exactly one of them).
func Members(k ipvs.Key) []state.Member {
	n := SetsFor(k.Address)
	e := Entry(k)
	return []state.Member{{Set: n.ClusterIP, Entry: e}, {Set: n.NodePort, Entry: e}}
}

// Records tells what member m records: the virtual server k (ok false for a
// member of no ledger set, such as a hairpin entry, or one that does not
// parse) and whether it also records k's address on the dummy link (ClusterIP
// members do). It is the state.Recorder the plan's dependencies use.
func Records(m state.Member) (k ipvs.Key, ok, address bool) {
	n := SetsFor(m.Entry.IP)
	if m.Set != n.ClusterIP && m.Set != n.NodePort {
		return ipvs.Key{}, false, false
	}
	p, err := ipvs.ParseProtocol(m.Entry.Protocol)
	if err != nil || m.Entry.IP2.IsValid() {
		return ipvs.Key{}, false, false
	}
	return ipvs.Key{Protocol: p, Address: m.Entry.IP, Port: m.Entry.Port}, true, m.Set == n.ClusterIP
}

var _ state.Recorder = Records

// Package rules holds the few iptables rules ipvs-proxy needs for masquerade
// and hairpin: a pure description (For, Ruleset.String) and the adapter that
// installs them with one iptables-restore --noflush per family and sync, plus
// an in-memory Fake.
package rules

import "net/netip"

// Family selects iptables (IPv4) or ip6tables (IPv6).
type Family string

// The two families.
const (
	IPv4 Family = "inet"
	IPv6 Family = "inet6"
)

// Spec is what the rules depend on; everything else lives in ipsets.
type Spec struct {
	Family Family
	// ClusterCIDRs: ClusterIP traffic from outside them is masqueraded. Empty
	// (and no LocalInterface) means masquerade only node traffic from a
	// cluster IP (unless MasqueradeAll).
	ClusterCIDRs []netip.Prefix
	// LocalInterface, when set, tells pod traffic by input interface instead
	// of ClusterCIDRs: a bridge name ("cni0") or a prefix and "+" ("veth+").
	LocalInterface string
	// MasqueradeAll masquerades all traffic to a ClusterIP virtual server.
	MasqueradeAll bool
	// MasqueradeBit is the fwmark bit (0-31) that marks packets for masquerade.
	MasqueradeBit int
	// The ipset names (hash:ip,port for the first two, hash:ip,port,ip for hairpin).
	ClusterIPSet, NodePortSet, HairpinSet string
	// External are the sets of external IPs, load balancers, source ranges,
	// health checks and the dummy-link port filter; with its zero value the
	// rules for them are left out (see external.go).
	External ExternalSets
}

// Ruleset is the content of ipvs-proxy's chains for one family, in
// iptables-restore syntax (String), plus the jumps from built-in chains.
type Ruleset struct {
	Family Family
	Tables []Table
}

// Table is one iptables table (nat, filter) with our chains and the jumps into them.
type Table struct {
	Name   string
	Chains []Chain
	// Jumps are rules at the top of built-in chains, e.g. {"POSTROUTING",
	// "-j IPVS-PROXY-POSTROUTING"}: Apply inserts them (iptables -I) before
	// every rule of someone else's, and moves them back there when they are
	// no longer first, so an earlier ACCEPT or REJECT cannot bypass them.
	Jumps []Jump
	// Buried is set only by Dump: the jumps of Jumps that follow a rule of
	// someone else's in their built-in chain. For never sets it, so a Dump
	// with buried jumps differs from For's rules and Apply moves them up.
	Buried []Jump
}

// Chain is one of our chains and its rules (each without "-A CHAIN").
type Chain struct {
	Name  string
	Rules []string
}

// Jump is a rule in a built-in chain that enters one of ours.
type Jump struct {
	Chain string // built-in chain, e.g. PREROUTING
	Rule  string // rule spec, e.g. "-m comment --comment ipvs-proxy -j IPVS-PROXY-SERVICES"
}

// Interface installs and reads our rules.
type Interface interface {
	// Apply makes our chains hold exactly rs (one iptables-restore --noflush),
	// with the jumps from built-in chains first in those chains; nothing else
	// is touched.
	Apply(rs Ruleset) error
	// Dump returns what our chains and jumps hold now, as a Ruleset in the same
	// canonical form For produces (so Dump after Apply(rs) equals rs).
	Dump(f Family) (Ruleset, error)
}

package desired

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// Families returns the rule families in use on a node with these addresses:
// IPv4 always (the ClusterIP family of nearly every cluster), IPv6 when the
// node has an IPv6 address.
func Families(nodeAddrs []netip.Addr) []rules.Family {
	out := []rules.Family{rules.IPv4}
	for _, a := range nodeAddrs {
		if a.Is6() && !a.Is4In6() {
			return append(out, rules.IPv6)
		}
	}
	return out
}

// Rules returns the iptables rules of every family in use on the node.
// Call it after cfg.Validate.
func Rules(cfg v1alpha1.Config, nodeAddrs []netip.Addr) []rules.Ruleset {
	cidrs, _ := cfg.ClusterCIDRs()
	var out []rules.Ruleset
	for _, f := range Families(nodeAddrs) {
		var fam []netip.Prefix
		for _, p := range cidrs {
			if p.Addr().Is4() == (f == rules.IPv4) {
				fam = append(fam, p)
			}
		}
		n := SetsOf(f)
		out = append(out, rules.For(rules.Spec{
			Family:        f,
			ClusterCIDRs:  fam,
			MasqueradeAll: cfg.MasqueradeAll,
			MasqueradeBit: cfg.MasqueradeBit,
			ClusterIPSet:  n.ClusterIP,
			NodePortSet:   n.NodePort,
			HairpinSet:    n.Hairpin,
			External:      n.ExternalSets.rules(),
		}))
	}
	return out
}

// OptionsFrom returns the desired-state options of a configuration.
func OptionsFrom(cfg v1alpha1.Config) Options {
	return Options{Scheduler: cfg.Scheduler, NodeName: cfg.NodeName}
}

package desired

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// Families returns the rule families in use given every address in use on
// the node (NodePort addresses and cluster IPs alike): IPv4 always (the
// ClusterIP family of nearly every cluster), IPv6 when any address is IPv6.
func Families(inUse ...[]netip.Addr) []rules.Family {
	out := []rules.Family{rules.IPv4}
	for _, addrs := range inUse {
		for _, a := range addrs {
			if a.Is6() && !a.Is4In6() {
				return append(out, rules.IPv6)
			}
		}
	}
	return out
}

// Rules returns the iptables rules of every family in use on the node, for
// a node without spec.podCIDRs (see RulesFor). Call it after cfg.Validate.
func Rules(cfg v1alpha1.Config, inUse []netip.Addr) []rules.Ruleset {
	return RulesFor(cfg, inUse, nil)
}

// RulesFor returns the iptables rules of every family in use (inUse: node
// addresses and cluster IPs), telling pod traffic apart as
// cfg.DetectLocalMode says, like kube-proxy's local-traffic detectors:
// ClusterCIDR (the default) by cfg.ClusterCIDR, NodeCIDR by the Node's
// podCIDRs, BridgeInterface and InterfaceNamePrefix by input interface. A
// family with no detector gets kube-proxy's fallback (masquerade node
// traffic from a cluster IP; see rules.For). Call it after cfg.Validate.
func RulesFor(cfg v1alpha1.Config, inUse []netip.Addr, podCIDRs []netip.Prefix) []rules.Ruleset {
	cidrs, _ := cfg.ClusterCIDRs()
	var iface string
	switch cfg.DetectLocalMode {
	case v1alpha1.DetectLocalNodeCIDR:
		cidrs = podCIDRs
	case v1alpha1.DetectLocalBridgeInterface:
		cidrs, iface = nil, cfg.BridgeInterface
	case v1alpha1.DetectLocalInterfaceNamePrefix:
		cidrs, iface = nil, cfg.InterfaceNamePrefix+"+"
	}
	var out []rules.Ruleset
	for _, f := range Families(inUse) {
		var fam []netip.Prefix
		for _, p := range cidrs {
			if p.Addr().Is4() == (f == rules.IPv4) {
				fam = append(fam, p.Masked())
			}
		}
		n := SetsOf(f)
		out = append(out, rules.For(rules.Spec{
			Family:         f,
			ClusterCIDRs:   fam,
			LocalInterface: iface,
			MasqueradeAll:  cfg.MasqueradeAll,
			MasqueradeBit:  cfg.MasqueradeBit,
			ClusterIPSet:   n.ClusterIP,
			NodePortSet:    n.NodePort,
			HairpinSet:     n.Hairpin,
			External:       n.ExternalSets.rules(),
		}))
	}
	return out
}

// PodCIDRs parses a Node's spec.podCIDRs (or spec.podCIDR); bad ones are skipped.
func PodCIDRs(node *corev1.Node) []netip.Prefix {
	if node == nil {
		return nil
	}
	raw := node.Spec.PodCIDRs
	if len(raw) == 0 && node.Spec.PodCIDR != "" {
		raw = []string{node.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range raw {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// OptionsFrom returns the desired-state options of a configuration (the
// scheduler flags default as NewScheduler says). Call it after cfg.Validate.
func OptionsFrom(cfg v1alpha1.Config) Options {
	o := Options{Scheduler: cfg.Scheduler, NodeName: cfg.NodeName, ProxyName: cfg.ServiceProxyName}
	if s, err := NewScheduler(cfg.Scheduler, cfg.SchedulerFlags); err == nil {
		o.SchedulerFlags = s.Flags
	}
	return o
}

// WithNode returns o with what the node's own Node object adds: its
// topology.kubernetes.io/zone label, for topology hints, and its primary
// IPs (see Options.NodeIPs).
func (o Options) WithNode(node *corev1.Node) Options {
	o.Zone = ""
	if node != nil {
		o.Zone = node.Labels[corev1.LabelTopologyZone]
	}
	o.NodeIPs = PrimaryNodeIPs(node)
	return o
}

// nodeIP is kube-proxy's nodeIP of a family: the primary IP of that family,
// else loopback.
func (o Options) nodeIP(v4 bool) netip.Addr {
	for _, a := range o.NodeIPs {
		if a.Is4() == v4 {
			return a
		}
	}
	if v4 {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.IPv6Loopback()
}

package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Our chain names. The prefix differs from kube-proxy's KUBE- so both can run
// on one node; everything whose name starts with ChainPrefix is ours.
const (
	ChainPrefix      = "IPVS-PROXY-"
	ServicesChain    = "IPVS-PROXY-SERVICES"
	MarkMasqChain    = "IPVS-PROXY-MARK-MASQ"
	PostroutingChain = "IPVS-PROXY-POSTROUTING"
	ForwardChain     = "IPVS-PROXY-FORWARD"
)

// DefaultMasqueradeBit is ipvs-proxy's default fwmark bit (0x2000). kube-proxy
// uses bit 14 (0x4000); a different bit lets both run on the same node.
const DefaultMasqueradeBit = 13

// For returns the rules for s in canonical form: tables nat then filter,
// chains sorted by name, jumps sorted by built-in chain, and every rule spelled
// exactly as iptables-save prints it back (so Dump after Apply(For(s)) equals
// For(s)). For does not check s; see Spec.Validate.
//
// The design is kube-proxy's IPVS mode with our own names:
//
//   - nat IPVS-PROXY-SERVICES (from PREROUTING and OUTPUT) marks for
//     masquerade traffic to a ClusterIP virtual server that does not come
//     from a pod (all of it with MasqueradeAll), and all traffic to a NodePort
//     virtual server. Pods are told apart, like kube-proxy's local-traffic
//     detectors, by the input interface (LocalInterface) or else by source
//     CIDR (ClusterCIDRs). With neither, like kube-proxy, the only ClusterIP
//     rule masquerades traffic whose source and destination are both cluster
//     IPs (`--match-set SET src,dst`): what the node itself sends.
//   - nat IPVS-PROXY-POSTROUTING (from POSTROUTING) masquerades hairpin
//     traffic (a pod reaching itself through a service) and marked traffic,
//     clearing the mark first so a packet is never masqueraded twice. It
//     first lets through, untouched, a TCP connection that conntrack picks
//     up mid-stream (see midStream).
//   - filter IPVS-PROXY-FORWARD (from FORWARD) accepts marked and
//     established traffic, so a DROP forward policy does not break services.
//
// iptables-save normalises some spellings, which For therefore emits directly:
// "-j MARK --or-mark M" is saved as "--set-xmark M/M", "--xor-mark M" as
// "--set-xmark M/0x0", "! -s CIDR" moves before the matches, and comments are
// quoted only when they hold characters other than letters, digits, - and _.
func For(s Spec) Ruleset {
	mark := fmt.Sprintf("%#x", uint32(1)<<uint(s.MasqueradeBit))
	markMask := mark + "/" + mark
	toMarkMasq := "-j " + MarkMasqChain

	var services []string
	switch cidrs := clusterCIDRs(s); {
	case s.MasqueradeAll:
		services = append(services, rule(comment("ipvs-proxy: masquerade all traffic to cluster IPs"),
			matchSet(s.ClusterIPSet, "dst,dst"), toMarkMasq))
	case s.LocalInterface != "":
		services = append(services, rule("! -i", s.LocalInterface,
			comment("ipvs-proxy: cluster IP traffic not from a pod interface"),
			matchSet(s.ClusterIPSet, "dst,dst"), toMarkMasq))
	case len(cidrs) > 0:
		for _, p := range cidrs {
			services = append(services, rule("! -s", p.String(),
				comment("ipvs-proxy: cluster IP traffic from outside the cluster CIDR"),
				matchSet(s.ClusterIPSet, "dst,dst"), toMarkMasq))
		}
	default:
		// No way to tell pods from the rest: masquerade what the node
		// itself sends from a cluster IP (the dummy link makes a cluster IP
		// the source of a connection to another cluster IP).
		services = append(services, rule(comment("ipvs-proxy: node traffic from a cluster IP to a cluster IP"),
			matchSet(s.ClusterIPSet, "src,dst"), toMarkMasq))
	}
	services = append(services, externalServices(s)...)
	services = append(services, rule(comment("ipvs-proxy: node port traffic"),
		matchSet(s.NodePortSet, "dst,dst"), toMarkMasq))

	nat := Table{
		Name: "nat",
		Chains: []Chain{
			{Name: MarkMasqChain, Rules: []string{"-j MARK --set-xmark " + markMask}},
			{Name: PostroutingChain, Rules: []string{
				rule("-p tcp", comment(midStreamComment), midStream, "-j RETURN"),
				rule(comment("ipvs-proxy: hairpin traffic"), matchSet(s.HairpinSet, "dst,dst,src"), "-j MASQUERADE"),
				rule("-m mark ! --mark", markMask, "-j RETURN"),
				rule("-j MARK --set-xmark", mark+"/0x0"),
				rule(comment("ipvs-proxy: service traffic requiring SNAT"), "-j MASQUERADE --random-fully"),
			}},
			{Name: ServicesChain, Rules: services},
		},
		Jumps: []Jump{
			{Chain: "OUTPUT", Rule: rule(comment("ipvs-proxy service portals"), "-j", ServicesChain)},
			{Chain: "POSTROUTING", Rule: rule(comment("ipvs-proxy postrouting rules"), "-j", PostroutingChain)},
			{Chain: "PREROUTING", Rule: rule(comment("ipvs-proxy service portals"), "-j", ServicesChain)},
		},
	}
	filter := Table{
		Name: "filter",
		Chains: []Chain{{Name: ForwardChain, Rules: []string{
			rule(comment("ipvs-proxy: forward marked service traffic"), "-m mark --mark", markMask, "-j ACCEPT"),
			rule(comment("ipvs-proxy: forward established service traffic"),
				"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
		}}},
		Jumps: []Jump{{Chain: "FORWARD", Rule: rule(comment("ipvs-proxy forwarding rules"), "-j", ForwardChain)}},
	}
	chains, jumps := externalFilter(s)
	filter.Chains = append(filter.Chains, chains...)
	filter.Jumps = append(filter.Jumps, jumps...)
	tables := []Table{nat, filter}
	if mangle, ok := externalMangle(s); ok {
		tables = append(tables, mangle)
	}
	return canonical(Ruleset{Family: s.Family, Tables: tables})
}

// midStream matches a TCP packet that is not a connection's opening SYN.
// The nat table sees only the first packet of each conntrack entry, so in
// nat POSTROUTING such a packet belongs to a connection that conntrack picked
// up mid-stream (nf_conntrack_tcp_loose): one that was established while
// conntrack did not track it, or whose entry was lost. Masquerading it would
// change the connection's source address and port half way, and the
// endpoint answers the unknown four-tuple with a RST. That is how the
// takeover from kube-proxy reset kept connections: until kube-proxy's first
// sync writes its iptables rules (its MASQUERADE), nothing in the node's
// network namespace needs conntrack, so the kernel does not track it at all
// and IPVS forwards connections without SNAT; our rules switch conntrack on,
// and the next packet of each such connection was masqueraded. Left alone,
// it keeps the addresses it was established with and goes on working.
const (
	midStream        = "-m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN"
	midStreamComment = "ipvs-proxy: a TCP connection picked up mid-stream keeps its addresses"
)

// clusterCIDRs returns the masked cluster CIDRs of s's family, sorted and
// without duplicates.
func clusterCIDRs(s Spec) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s.ClusterCIDRs {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		if p.Addr().Is4() != (s.Family != IPv6) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

func rule(parts ...string) string { return strings.Join(parts, " ") }

func matchSet(name, flags string) string {
	return "-m set --match-set " + name + " " + flags
}

// comment renders "-m comment --comment TEXT" quoted as iptables-save prints
// it: bare when TEXT is only letters, digits, - and _, else in double quotes
// with ", \ and ' escaped by a backslash.
func comment(text string) string {
	return "-m comment --comment " + quote(text)
}

func quote(s string) string {
	bare := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
	if bare {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' || r == '\'' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

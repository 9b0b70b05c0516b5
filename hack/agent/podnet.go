package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// A node's pod network: one pod CIDR per family (dual-stack: an IPv4 and an
// IPv6 one, the first given is the primary, as in Node.spec.podCIDRs). A pod
// takes one slot: host number N of every pod CIDR (10.244.0.N and
// fd00:10:244::N), so its addresses read alike; slot 1 is the gateway, held by
// the node side of every pod's veth.

// splitList splits comma-separated, possibly repeated flag values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parsePodCIDRs parses --pod-cidr values (repeated or comma separated): one
// or two CIDRs, at most one per family, each leaving room for the gateway
// and a pod.
func parsePodCIDRs(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(vals) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--pod-cidr: %q is not a CIDR", s)
		}
		p = p.Masked()
		if p.Addr().BitLen()-p.Bits() < 2 {
			return nil, fmt.Errorf("--pod-cidr: %s is too small", p)
		}
		for _, q := range out {
			if q.Addr().Is4() == p.Addr().Is4() {
				return nil, fmt.Errorf("--pod-cidr: %s and %s are of one family; give at most one IPv4 and one IPv6 CIDR", q, p)
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--pod-cidr: required")
	}
	return out, nil
}

// parseNodeIPs parses --node-ip values like kubelet's --node-ip: one
// address, or one per family (the first is the primary).
func parseNodeIPs(vals []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range splitList(vals) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--node-ip: %q is not an IP address", s)
		}
		a = a.Unmap()
		for _, b := range out {
			if b.Is4() == a.Is4() {
				return nil, fmt.Errorf("--node-ip: %s and %s are of one family; give at most one IPv4 and one IPv6 address", b, a)
			}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--node-ip: required")
	}
	return out, nil
}

// nthAddr is host number n of prefix p (0 is the network address).
func nthAddr(p netip.Prefix, n uint32) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := len(b) - 1; i >= 0 && n > 0; i-- {
		s := uint32(b[i]) + n&0xff
		b[i] = byte(s)
		n = n>>8 + s>>8
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// slotAddrs are the addresses of slot n, one per pod CIDR, in their order.
func slotAddrs(cidrs []netip.Prefix, n uint32) []netip.Addr {
	out := make([]netip.Addr, len(cidrs))
	for i, p := range cidrs {
		out[i] = nthAddr(p, n)
	}
	return out
}

// podSlots is the number of the highest pod slot: pods take slots 2..podSlots
// (every pod CIDR has them; the IPv4 broadcast address is left out). Capped
// at 65534: a node runs far fewer pods.
func podSlots(cidrs []netip.Prefix) uint32 {
	last := uint32(65534)
	for _, p := range cidrs {
		host := p.Addr().BitLen() - p.Bits()
		if host >= 17 {
			continue
		}
		n := uint32(1)<<host - 1 // the all-ones host number
		if p.Addr().Is4() {
			n-- // the broadcast address
		}
		last = min(last, n)
	}
	return last
}

// strs formats addresses (or prefixes) as strings.
func strs[T fmt.Stringer](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// vethSteps are the ip(8) commands that create a pod's netns podNS and wire
// it to the node netns nodeNS through veth (node side) / eth0 (pod side):
// per family, the gateway gws[i] on the node side and the pod address
// addrs[i] on eth0 (each a single-address prefix; IPv6 ones without DAD, so
// that they work at once), a host route to the pod on the node side and a
// default route via the gateway in the pod.
func vethSteps(nodeNS, podNS, veth string, gws, addrs []netip.Addr) [][]string {
	steps := [][]string{
		{"ip", "netns", "add", podNS},
		{"ip", "-n", podNS, "link", "set", "lo", "up"},
		{"ip", "-n", nodeNS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", podNS},
	}
	opts := func(a netip.Addr) []string {
		if a.Is6() {
			return []string{"nodad"}
		}
		return nil
	}
	fam := func(a netip.Addr) string {
		if a.Is6() {
			return "-6"
		}
		return "-4"
	}
	host := func(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }
	for _, gw := range gws {
		steps = append(steps, append([]string{"ip", "-n", nodeNS, "addr", "add", host(gw), "dev", veth}, opts(gw)...))
	}
	steps = append(steps, []string{"ip", "-n", nodeNS, "link", "set", veth, "up"})
	for i, ip := range addrs {
		steps = append(steps, []string{"ip", "-n", nodeNS, fam(ip), "route", "replace", host(ip), "dev", veth, "src", gws[i].String()})
	}
	for _, ip := range addrs {
		steps = append(steps, append([]string{"ip", "-n", podNS, "addr", "add", host(ip), "dev", "eth0"}, opts(ip)...))
	}
	steps = append(steps, []string{"ip", "-n", podNS, "link", "set", "eth0", "up"})
	for i, ip := range addrs {
		gw := gws[i].String()
		steps = append(steps,
			[]string{"ip", "-n", podNS, fam(ip), "route", "add", gw, "dev", "eth0"},
			[]string{"ip", "-n", podNS, fam(ip), "route", "add", "default", "via", gw, "dev", "eth0", "src", ip.String()})
	}
	return steps
}

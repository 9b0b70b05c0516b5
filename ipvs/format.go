package ipvs

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
)

// Format renders services exactly as `ipvsadm -Sn` (ipvsadm-save -n) prints
// them: one "-A" line per virtual server followed by its "-a" lines, every
// line newline-terminated, in ipvsadm's order. It does not modify services.
//
// ipvsadm sorts with libipvs's ipvs_cmp_services and ipvs_cmp_dests, which
// is not Key.Compare: services go by family first (all IPv4 before all
// IPv6), then protocol, address, port; and addresses are compared by the
// sign of the 32-bit difference of each big-endian word, so 192.168.0.1
// sorts BEFORE 10.96.0.1 (0xc0a80001-0x0a600001 overflows to a negative
// int). That comparison is a consistent order whenever the addresses being
// sorted fit in half of the address circle (any set of private ranges,
// say); for a set that does not (10/8, 100.64/10 and 192.168/16 together
// form a cycle) even ipvsadm's output depends on the kernel's hash order and
// glibc's qsort, and Format returns one deterministic choice.
func Format(services []Service) string {
	svcs := slices.Clone(services)
	slices.SortFunc(svcs, func(a, b Service) int { return a.Key.Compare(b.Key) })
	slices.SortStableFunc(svcs, func(a, b Service) int { return ipvsadmCompareServices(a.Key, b.Key) })

	n := 0
	for _, s := range svcs {
		n += 1 + len(s.RealServers)
	}
	var b strings.Builder
	b.Grow(n * 64)
	var rss []RealServer
	for _, s := range svcs {
		b.WriteString(s.VirtualServer.String())
		b.WriteByte('\n')
		rss = append(rss[:0], s.RealServers...)
		slices.SortFunc(rss, func(x, y RealServer) int { return x.RealServerKey.Compare(y.RealServerKey) })
		slices.SortStableFunc(rss, func(x, y RealServer) int {
			return ipvsadmCompareDests(x.RealServerKey, y.RealServerKey)
		})
		for _, rs := range rss {
			b.WriteString(rs.Line(s.Key))
			if rs.Forwarding == Tunnel {
				// ipvsadm 1.31 on a kernel that reports tunnel types
				// (5.2+). moby/ipvs does not decode the type, so a
				// foreign GUE or GRE tunnel also reads as ipip.
				b.WriteString(" --tun-type ipip")
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// ipvsadmCompareServices is libipvs's ipvs_cmp_services for non-fwmark
// services: AF_INET (2) before AF_INET6 (10), protocol, address, port.
func ipvsadmCompareServices(a, b Key) int {
	if c := cmp.Compare(family(a.Address), family(b.Address)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := ipvsadmCompareAddrs(a.Address, b.Address); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// ipvsadmCompareDests is libipvs's ipvs_cmp_dests: address (as wide as the
// first one's family), then port.
func ipvsadmCompareDests(a, b RealServerKey) int {
	if c := ipvsadmCompareAddrs(a.Address, b.Address); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// ipvsadmCompareAddrs compares like libipvs: word by word, the sign of
// (int)(ntohl(a) - ntohl(b)), over one word if a is IPv4 and four if IPv6.
// Addresses sit in a 16-byte union, an IPv4 one in its first word.
func ipvsadmCompareAddrs(a, b netip.Addr) int {
	wa, wb := addrWords(a), addrWords(b)
	words := 4
	if a.Is4() {
		words = 1
	}
	for i := range words {
		if d := int32(wa[i] - wb[i]); d != 0 {
			return cmp.Compare(d, 0)
		}
	}
	return 0
}

func addrWords(a netip.Addr) (w [4]uint32) {
	if a.Is4() {
		b := a.As4()
		w[0] = binary.BigEndian.Uint32(b[:])
		return w
	}
	b := a.As16()
	for i := range w {
		w[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return w
}

//go:build linux

package conntrack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// Netlink deletes conntrack entries over netlink (NETLINK_NETFILTER), in the
// network namespace of the thread that calls it, as
// vishvananda/netlink's ConntrackDeleteFilters does: one dump of the
// family's table per Delete, then one delete request per matching flow.
type Netlink struct{}

var _ Interface = Netlink{}

// Delete removes the flows that match any of filters, IPv4 and IPv6 each
// dumped once when a filter names the family.
func (Netlink) Delete(filters []Filter) (int, error) {
	var v4, v6 []netlink.CustomConntrackFilter
	for _, f := range filters {
		if f.Is6() {
			v6 = append(v6, match(f))
		} else {
			v4 = append(v4, match(f))
		}
	}
	var total int
	var errs []error
	for _, fam := range []struct {
		family  netlink.InetFamily
		filters []netlink.CustomConntrackFilter
	}{{unix.AF_INET, v4}, {unix.AF_INET6, v6}} {
		if len(fam.filters) == 0 {
			continue
		}
		n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, fam.family, fam.filters...)
		total += int(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("conntrack delete (family %d): %w", fam.family, err))
		}
	}
	return total, errors.Join(errs...)
}

// match adapts a Filter to netlink's CustomConntrackFilter.
type match Filter

func (m match) MatchConntrackFlow(f *netlink.ConntrackFlow) bool {
	return Filter(m).Match(FromNetlink(f))
}

// FromNetlink converts a netlink flow.
func FromNetlink(f *netlink.ConntrackFlow) Flow {
	ap := func(ip net.IP, port uint16) netip.AddrPort {
		a, _ := netip.AddrFromSlice(ip)
		return netip.AddrPortFrom(a.Unmap(), port)
	}
	return Flow{
		Protocol: ipvs.Protocol(f.Forward.Protocol),
		OrigSrc:  ap(f.Forward.SrcIP, f.Forward.SrcPort),
		OrigDst:  ap(f.Forward.DstIP, f.Forward.DstPort),
		ReplySrc: ap(f.Reverse.SrcIP, f.Reverse.SrcPort),
		ReplyDst: ap(f.Reverse.DstIP, f.Reverse.DstPort),
	}
}

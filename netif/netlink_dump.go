//go:build linux

package netif

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// openStrictSocket opens the NETLINK_ROUTE socket of addrsOf, with
// NETLINK_GET_STRICT_CHK set: the kernel then honours the link index of an
// address dump request (Linux 4.20 and later) instead of sending every
// link's addresses. It is its own socket so that strict checking changes
// nothing for the library's requests on the Handle's socket.
func openStrictSocket() (*nl.SocketHandle, error) {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	// An older kernel refuses the option and sends every link's
	// addresses; addrsOf filters them itself.
	_ = unix.SetsockoptInt(s.GetFd(), unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	return &nl.SocketHandle{Socket: s}, nil
}

// addrsOf dumps the IPv4 and IPv6 addresses of the link with index idx: the
// local address of each (IFA_LOCAL, else IFA_ADDRESS), as netlink.AddrList
// reads them.
func (k *Kernel) addrsOf(idx int) ([]netip.Addr, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	msg := nl.NewIfAddrmsg(netlink.FAMILY_ALL)
	msg.Index = uint32(idx)
	req.AddData(msg)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: k.strict}
	var out []netip.Addr
	var perr error
	err := req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWADDR, func(m []byte) bool {
		am := nl.DeserializeIfAddrmsg(m)
		if int(am.Index) != idx {
			return true // a kernel without strict checking sends them all
		}
		attrs, err := nl.ParseRouteAttr(m[am.Len():])
		if err != nil {
			perr = err
			return false
		}
		var local, address []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_LOCAL:
				local = a.Value
			case unix.IFA_ADDRESS:
				address = a.Value
			}
		}
		if local == nil {
			local = address
		}
		if ip, ok := netip.AddrFromSlice(local); ok {
			out = append(out, ip) // 4 bytes for IPv4, 16 for IPv6: no unmapping
		}
		return true
	})
	if err == nil {
		err = perr
	}
	return out, err
}

//go:build linux

package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
	"golang.org/x/sys/unix"
)

// Dumps: the rolling audit reads the real servers of a few virtual servers
// every second, and moby/ipvs's GetDestinations allocates a fresh receive
// buffer, per-message slices, net.IP values and statistics per call: most
// of the daemon's idle CPU. So Kernel reads its dumps (RealServers,
// Services, Dump) over a generic netlink socket of its own, into a receive
// buffer reused from dump to dump, and parses the attributes straight into
// our types, filling every field as the moby conversion did (see
// kernel_dump_test.go, which compares the two on a real kernel).
//
// The dump socket is not the batch socket and has its own lock, dmu: the
// audit reads off the Runner's goroutine while an apply may be sending a
// long Batch under mu, and a dump need neither wait for it nor interleave
// its replies with the batch's on one socket (each socket has one reader
// that sees all its replies). The kernel runs requests from two sockets
// safely (IPVS takes its own mutex per request and per dump chunk).

const (
	ipvsCmdGetService = 4
	ipvsCmdGetDest    = 8

	ipvsSvcAttrFWMark = 5

	ipvsDestAttrActiveConns   = 7
	ipvsDestAttrInactiveConns = 8
	ipvsDestAttrAF            = 11
)

// RealServers dumps the real servers of key with their connection counts
// (GET_DEST). The kernel answers a dump for a missing virtual server with
// nothing, so a missing one has no real servers.
func (k *Kernel) RealServers(key Key) ([]RealServer, map[RealServerKey]Conns, error) {
	k.dmu.Lock()
	defer k.dmu.Unlock()
	rss, conns, err := k.realServersLocked(key)
	if errors.Is(err, syscall.ESRCH) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, vsError("dump real servers of", key, err)
	}
	return rss, conns, nil
}

// realServersLocked is one destination dump: real servers in
// RealServerKey.Compare order (nil when none) and the counts of those with
// connections (nil when none has). k.dmu must be held.
func (k *Kernel) realServersLocked(key Key) ([]RealServer, map[RealServerKey]Conns, error) {
	if k.ds == nil {
		return nil, nil, errClosed
	}
	req := k.ds.StartDump(k.ds.family)
	req = append(req, ipvsCmdGetDest, ipvsGenlVersion, 0, 0)
	req = appendService(req, VirtualServer{Key: key}, false)
	rss := k.rss[:0]
	var conns map[RealServerKey]Conns
	err := k.ds.Dump(req, func(data []byte) error {
		rs, c, err := parseDestination(data)
		if err != nil {
			return err
		}
		rss = append(rss, rs)
		if !c.Zero() {
			if conns == nil {
				conns = map[RealServerKey]Conns{}
			}
			conns[rs.RealServerKey] = c
		}
		return nil
	})
	k.rss = rss
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(rss, func(a, b RealServer) int { return a.RealServerKey.Compare(b.RealServerKey) })
	if len(rss) == 0 {
		return nil, conns, nil
	}
	return slices.Clone(rss), conns, nil
}

// servicesLocked is one service dump: the kernel's services that a Key can
// name (no firewall marks), in the kernel's order. k.dmu must be held.
func (k *Kernel) servicesLocked() ([]VirtualServer, error) {
	if k.ds == nil {
		return nil, fmt.Errorf("dump virtual servers: %w", errClosed)
	}
	req := k.ds.StartDump(k.ds.family)
	req = append(req, ipvsCmdGetService, ipvsGenlVersion, 0, 0)
	req = attrHeader(req, ipvsCmdAttrService) // empty, as moby sends it
	req = endNest(req, len(req)-4)
	var vss []VirtualServer
	err := k.ds.Dump(req, func(data []byte) error {
		vs, fwmark, err := parseService(data)
		if err != nil {
			return err
		}
		if !fwmark {
			vss = append(vss, vs)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump virtual servers: %w", err)
	}
	return vss, nil
}

// cmdAttr is the value of the first attribute of a GET_SERVICE or GET_DEST
// reply (after its genetlink header), the nest of the service or
// destination, as moby reads it.
func cmdAttr(data []byte) ([]byte, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("ipvs reply of %d bytes: %w", len(data), syscall.EINVAL)
	}
	var v []byte
	nlbatch.Attributes(data[4:], func(_ uint16, a []byte) bool {
		v = a
		return false
	})
	if v == nil {
		return nil, errors.New("error no valid netlink message found while parsing ipvs record")
	}
	return v, nil
}

// parseDestination reads one destination of a GET_DEST reply as moby's
// parseDestination and fromMobyDestination did: the weight's low 16 bits
// (moby's), the forwarding method, the family (from the address when the
// kernel sends none, before 3.18) and the connection counts.
func parseDestination(data []byte) (RealServer, Conns, error) {
	attrs, err := cmdAttr(data)
	if err != nil {
		return RealServer{}, Conns{}, err
	}
	var rs RealServer
	var c Conns
	var family uint16
	var addr []byte
	nlbatch.Attributes(attrs, func(typ uint16, v []byte) bool {
		switch {
		case typ == ipvsDestAttrAF && len(v) >= 2:
			family = binary.NativeEndian.Uint16(v)
		case typ == ipvsDestAttrAddr:
			addr = v
		case typ == ipvsDestAttrPort && len(v) >= 2:
			rs.Port = binary.BigEndian.Uint16(v)
		case typ == ipvsDestAttrFwdMethod && len(v) >= 4:
			rs.Forwarding = forwardingOf(binary.NativeEndian.Uint32(v))
		case typ == ipvsDestAttrWeight && len(v) >= 2:
			rs.Weight = int(binary.NativeEndian.Uint16(v))
		case typ == ipvsDestAttrActiveConns && len(v) >= 4:
			c.Active = int(binary.NativeEndian.Uint32(v))
		case typ == ipvsDestAttrInactiveConns && len(v) >= 4:
			c.Inactive = int(binary.NativeEndian.Uint32(v))
		}
		return true
	})
	if family == 0 {
		family = familyOfAddress(addr)
	}
	rs.Address, err = parseAddr(addr, family)
	return rs, c, err
}

// parseService reads one service of a GET_SERVICE reply as moby's
// parseService and fromMobyService did, and whether it is a firewall-mark
// service (then vs is meaningless).
func parseService(data []byte) (vs VirtualServer, fwmark bool, err error) {
	attrs, err := cmdAttr(data)
	if err != nil {
		return VirtualServer{}, false, err
	}
	var family uint16
	var addr []byte
	var flags, timeout uint32
	nlbatch.Attributes(attrs, func(typ uint16, v []byte) bool {
		switch {
		case typ == ipvsSvcAttrAF && len(v) >= 2:
			family = binary.NativeEndian.Uint16(v)
		case typ == ipvsSvcAttrProtocol && len(v) >= 2:
			vs.Protocol = Protocol(binary.NativeEndian.Uint16(v))
		case typ == ipvsSvcAttrAddr:
			addr = v
		case typ == ipvsSvcAttrPort && len(v) >= 2:
			vs.Port = binary.BigEndian.Uint16(v)
		case typ == ipvsSvcAttrFWMark && len(v) >= 4:
			fwmark = binary.NativeEndian.Uint32(v) != 0
		case typ == ipvsSvcAttrSchedName:
			vs.Scheduler = cString(v)
		case typ == ipvsSvcAttrFlags && len(v) >= 4:
			flags = binary.NativeEndian.Uint32(v)
		case typ == ipvsSvcAttrTimeout && len(v) >= 4:
			timeout = binary.NativeEndian.Uint32(v)
		}
		return true
	})
	if fwmark {
		return VirtualServer{}, true, nil
	}
	vs.Flags = SchedFlags(flags) & SchedFlagsMask
	if flags&svcFlagPersistent != 0 {
		vs.Timeout = timeout
	}
	vs.Address, err = parseAddr(addr, family)
	return vs, false, err
}

// familyOfAddress guesses a destination's family from its address, as
// moby does for kernels that send none: 4 bytes, or 16 whose last 12 are
// zero, are IPv4; 0 when it cannot tell.
func familyOfAddress(a []byte) uint16 {
	switch {
	case len(a) == 4:
		return unix.AF_INET
	case isZeros(a):
		return 0
	case len(a) >= 4 && !isZeros(a[:4]) && isZeros(a[4:]):
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func isZeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseAddr reads an address attribute of family (the kernel sends the
// 16 bytes of a union nf_inet_addr, an IPv4 address in the first 4).
func parseAddr(a []byte, family uint16) (netip.Addr, error) {
	switch {
	case family == unix.AF_INET && len(a) >= 4:
		return netip.AddrFrom4([4]byte(a[:4])), nil
	case family == unix.AF_INET6 && len(a) >= 16:
		return netip.AddrFrom16([16]byte(a[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("address %x of family %d: %w", a, family, syscall.EAFNOSUPPORT)
}

func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Package ipvs is the IPVS kernel adapter: our own small value types at the
// boundary, the narrow Interface the reconciler uses, a netlink implementation
// (github.com/moby/ipvs) and an in-memory Fake that refuses what the kernel
// refuses.
package ipvs

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
)

// Protocol is an IP protocol number as IPVS stores it.
type Protocol uint8

// The protocols IPVS load-balances for us.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

// ParseProtocol maps a Kubernetes protocol name ("TCP", "UDP", "SCTP") to a Protocol.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "TCP", "tcp", "":
		return TCP, nil
	case "UDP", "udp":
		return UDP, nil
	case "SCTP", "sctp":
		return SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", s)
}

// String returns the lower-case name, as ipset writes it ("tcp", "udp", "sctp").
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// flag is the ipvsadm switch for the protocol ("-t", "-u", "--sctp-service").
func (p Protocol) flag() string {
	switch p {
	case UDP:
		return "-u"
	case SCTP:
		return "--sctp-service"
	}
	return "-t"
}

// Key identifies a virtual server: protocol, address and port.
type Key struct {
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
}

// String renders the key as ipvsadm does: "-t 10.96.0.10:80", "-u [fd00::a]:53".
func (k Key) String() string {
	return k.Protocol.flag() + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Compare is a total order on keys: protocol, family, address, port. It is
// not the order of `ipvsadm -Sn` (family first, and a wrapping address
// comparison); Format reproduces that one.
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Protocol, o.Protocol); c != 0 {
		return c
	}
	if c := cmp.Compare(family(k.Address), family(o.Address)); c != 0 {
		return c
	}
	if c := k.Address.Compare(o.Address); c != 0 {
		return c
	}
	return cmp.Compare(k.Port, o.Port)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// VirtualServer is an IPVS service. Timeout > 0 means persistent (-p).
type VirtualServer struct {
	Key
	Scheduler string
	// Flags are the scheduler flags (ipvsadm -b); only the SchedFlag bits.
	Flags   SchedFlags
	Timeout uint32 // persistence timeout in seconds; 0 = not persistent
}

// String renders the `ipvsadm -Sn` line: "-A -t 10.96.0.10:80 -s mh -p 600 -b mh-port"
// (ipvsadm prints the scheduler flags last).
func (v VirtualServer) String() string {
	s := "-A " + v.Key.String() + " -s " + v.Scheduler
	if v.Timeout > 0 {
		s += " -p " + strconv.FormatUint(uint64(v.Timeout), 10)
	}
	if f := v.Flags.Names(v.Scheduler); f != "" {
		s += " -b " + f
	}
	return s
}

// Forwarding is the IPVS packet-forwarding method of a real server.
type Forwarding uint8

// Forwarding methods; ipvs-proxy only creates Masquerade (NAT, "-m").
const (
	Masquerade Forwarding = iota
	Local
	Tunnel
	Route
	Bypass
)

func (f Forwarding) flag() string {
	switch f {
	case Masquerade:
		return "-m"
	case Tunnel:
		return "-i"
	case Route, Local:
		return "-g"
	}
	return "-b"
}

// RealServerKey identifies a real server within its virtual server.
type RealServerKey struct {
	Address netip.Addr
	Port    uint16
}

// Compare is a total order on real servers: family, address, port (not
// quite `ipvsadm -Sn`'s; see Format).
func (r RealServerKey) Compare(o RealServerKey) int {
	if c := cmp.Compare(family(r.Address), family(o.Address)); c != 0 {
		return c
	}
	if c := r.Address.Compare(o.Address); c != 0 {
		return c
	}
	return cmp.Compare(r.Port, o.Port)
}

// RealServer is an IPVS destination.
type RealServer struct {
	RealServerKey
	Weight     int
	Forwarding Forwarding
}

// Line renders the `ipvsadm -Sn` line for rs under virtual server k:
// "-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1".
func (rs RealServer) Line(k Key) string {
	return "-a " + k.String() + " -r " + netip.AddrPortFrom(rs.Address, rs.Port).String() +
		" " + rs.Forwarding.flag() + " -w " + strconv.Itoa(rs.Weight)
}

// Service is a virtual server together with its real servers, as dumped.
type Service struct {
	VirtualServer
	RealServers []RealServer
	// Conns holds the connection counts of the real servers that have
	// connections; a real server missing here has none. Nil when none has.
	Conns map[RealServerKey]Conns
}

// Interface is everything the reconciler needs from IPVS. Every method is one
// kernel request except Dump, which is one service dump plus one destination
// dump per service. Errors wrap the kernel's errno.
type Interface interface {
	// Dump lists every virtual server in the kernel (ours and foreign) with its real servers.
	Dump() ([]Service, error)
	// Services lists every virtual server in the kernel (ours and foreign),
	// without real servers: one service dump.
	Services() ([]VirtualServer, error)
	AddVirtualServer(VirtualServer) error
	// UpdateVirtualServer changes scheduler or persistence in place.
	UpdateVirtualServer(VirtualServer) error
	DeleteVirtualServer(Key) error
	AddRealServer(Key, RealServer) error
	// UpdateRealServer changes weight or forwarding in place.
	UpdateRealServer(Key, RealServer) error
	DeleteRealServer(Key, RealServerKey) error
	// RealServers lists the real servers of virtual server k, in
	// RealServerKey.Compare order (nil when none), with their connection
	// counts: one destination dump. A missing k reads as one without real
	// servers: the kernel's destination dump does not tell them apart
	// (Services does).
	RealServers(k Key) ([]RealServer, map[RealServerKey]Conns, error)
}

// String renders "10.244.1.5:8080" or "[fd00::5]:8080".
func (r RealServerKey) String() string { return netip.AddrPortFrom(r.Address, r.Port).String() }

//go:build linux

package ipvs

import (
	"net"
	"net/netip"
	"syscall"

	mobyipvs "github.com/moby/ipvs"
)

// The one place where moby/ipvs's types meet ours.

const (
	svcFlagPersistent = 0x1        // IP_VS_SVC_F_PERSISTENT
	netmaskIPv4       = 0xffffffff // what kube-proxy and ipvsadm send: one client address
	netmaskIPv6       = 128
)

// service fills the scratch moby Service for vs. For requests that only
// name a service (delete, destination commands) the kernel ignores all but
// family, protocol, address and port.
func (k *Kernel) service(vs VirtualServer) *mobyipvs.Service {
	s := &k.svc
	*s = mobyipvs.Service{
		Address:   ipInto(&k.svcIP, vs.Address),
		Protocol:  uint16(vs.Protocol),
		Port:      vs.Port,
		SchedName: vs.Scheduler,
		Timeout:   vs.Timeout,
	}
	if vs.Address.Is4() {
		s.AddressFamily, s.Netmask = syscall.AF_INET, netmaskIPv4
	} else {
		s.AddressFamily, s.Netmask = syscall.AF_INET6, netmaskIPv6
	}
	s.Flags = uint32(vs.Flags & SchedFlagsMask)
	if vs.Timeout > 0 {
		s.Flags |= svcFlagPersistent
	}
	return s
}

// destination fills the scratch moby Destination for rs.
func (k *Kernel) destination(rs RealServer) *mobyipvs.Destination {
	d := &k.dst
	*d = mobyipvs.Destination{
		Address:         ipInto(&k.dstIP, rs.Address),
		Port:            rs.Port,
		Weight:          rs.Weight,
		ConnectionFlags: forwardingFlags(rs.Forwarding),
	}
	if rs.Address.Is4() {
		d.AddressFamily = syscall.AF_INET
	} else {
		d.AddressFamily = syscall.AF_INET6
	}
	return d
}

// ipInto writes a into buf without allocating: 4 bytes for IPv4 (what moby
// sends as the IPv4 attribute), 16 for IPv6.
func ipInto(buf *[16]byte, a netip.Addr) net.IP {
	if a.Is4() {
		b := a.As4()
		copy(buf[:4], b[:])
		return buf[:4]
	}
	*buf = a.As16()
	return buf[:]
}

func forwardingFlags(f Forwarding) uint32 {
	switch f {
	case Local:
		return mobyipvs.ConnFwdLocalNode
	case Tunnel:
		return mobyipvs.ConnFwdTunnel
	case Route:
		return mobyipvs.ConnFwdDirectRoute
	case Bypass:
		return mobyipvs.ConnFwdBypass
	}
	return mobyipvs.ConnFwdMasq
}

func forwardingOf(flags uint32) Forwarding {
	switch flags & mobyipvs.ConnFwdMask {
	case mobyipvs.ConnFwdLocalNode:
		return Local
	case mobyipvs.ConnFwdTunnel:
		return Tunnel
	case mobyipvs.ConnFwdDirectRoute:
		return Route
	case mobyipvs.ConnFwdBypass:
		return Bypass
	}
	return Masquerade
}

package ipvs

import (
	"fmt"
	"math"
	"net/netip"
	"syscall"
)

// schedulers are the scheduler names Linux 6.1 (Debian 12) ships as
// ip_vs_<name> modules (checked by TestKernelMatchesFake; "twos" came with
// 6.2). The kernel answers ENOENT for any other name ("Scheduler module
// ip_vs_<name> not found").
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf"}

func knownScheduler(name string) bool {
	for _, s := range schedulers {
		if s == name {
			return true
		}
	}
	return false
}

// maxWeight is the largest weight that survives a round trip through
// github.com/moby/ipvs: the kernel keeps a 32-bit weight but moby decodes
// only its low 16 bits, so a larger weight would read back wrong and make
// every sync see a difference.
const maxWeight = math.MaxUint16

// checkVirtualServer refuses what ipvsadm and the kernel refuse for a
// virtual server before any request is sent. It is shared by Kernel and Fake
// so that both fail in the same way.
func checkVirtualServer(vs VirtualServer) error {
	switch vs.Protocol {
	case TCP, UDP, SCTP:
	default:
		return fmt.Errorf("protocol %d: %w", vs.Protocol, syscall.EPROTONOSUPPORT)
	}
	if err := checkAddr(vs.Address); err != nil {
		return err
	}
	// ipvsadm: "Zero port specified for non-persistent service". The
	// kernel itself accepts port 0 only as a persistent "any port" service.
	if vs.Port == 0 && vs.Timeout == 0 {
		return fmt.Errorf("port 0 for non-persistent service: %w", syscall.EINVAL)
	}
	return nil
}

// checkRealServer refuses what the kernel refuses for a NAT real server of
// virtual server k. github.com/moby/ipvs does not send the destination's
// address family, so the kernel would silently reinterpret an address of
// the other family (4 bytes read as an IPv6 prefix, or 16 bytes cut to 4):
// the check is ours. The kernel itself answers EINVAL for a family mismatch
// on anything but a tunnel destination.
func checkRealServer(k Key, rs RealServer) error {
	if err := checkRealServerKey(k, rs.RealServerKey); err != nil {
		return err
	}
	if rs.Weight < 0 || rs.Weight > maxWeight {
		return fmt.Errorf("weight %d out of range 0..%d: %w", rs.Weight, maxWeight, syscall.ERANGE)
	}
	if rs.Forwarding > Bypass {
		return fmt.Errorf("forwarding method %d: %w", rs.Forwarding, syscall.EINVAL)
	}
	return nil
}

// checkRealServerKey is the part of checkRealServer that a delete needs.
func checkRealServerKey(k Key, r RealServerKey) error {
	if err := checkAddr(r.Address); err != nil {
		return err
	}
	if r.Address.Is4() != k.Address.Is4() {
		return fmt.Errorf("real server family differs from virtual server: %w", syscall.EINVAL)
	}
	return nil
}

// checkAddr refuses addresses that cannot go to the kernel as they are: the
// invalid one, a zoned one, and an IPv4-mapped IPv6 one, which moby/ipvs
// would send as 4 bytes under AF_INET6 (the kernel would read 1.2.3.4 as
// 102:304::).
func checkAddr(a netip.Addr) error {
	if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
		return fmt.Errorf("address %q: %w", a, syscall.EINVAL)
	}
	return nil
}

package ipvs

import (
	"bytes"
	"cmp"
	"net/netip"
)

// fakeRS is a real server as the Fake keeps it: 24 bytes against
// RealServer's 48 (the 100k benchmarks' fake holds a million). The kernel's
// rules (checkRealServer) already refused what does not fit: invalid, zoned
// and 4-in-6 addresses, weights outside 0..65535.
type fakeRS struct {
	addr   [16]byte
	port   uint16
	is6    bool // RealServerKey.Compare puts IPv4 first
	fwd    Forwarding
	weight int32
}

func packRS(rs RealServer) fakeRS {
	p := packRSKey(rs.RealServerKey)
	p.fwd, p.weight = rs.Forwarding, int32(rs.Weight)
	return p
}

func packRSKey(k RealServerKey) fakeRS {
	return fakeRS{addr: k.Address.As16(), port: k.Port, is6: k.Address.Is6()}
}

func (p fakeRS) key() RealServerKey {
	a := netip.AddrFrom16(p.addr)
	if !p.is6 {
		a = a.Unmap()
	}
	return RealServerKey{Address: a, Port: p.port}
}

func (p fakeRS) realServer() RealServer {
	return RealServer{RealServerKey: p.key(), Weight: int(p.weight), Forwarding: p.fwd}
}

// compareRS orders as RealServerKey.Compare (for the addresses the kernel
// takes: IPv4 first, then the address, then the port).
func compareRS(a, b fakeRS) int {
	if a.is6 != b.is6 {
		if b.is6 {
			return -1
		}
		return 1
	}
	if c := bytes.Compare(a.addr[:], b.addr[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.port, b.port)
}

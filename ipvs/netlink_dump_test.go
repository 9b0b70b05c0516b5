//go:build linux

package ipvs

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
	"golang.org/x/sys/unix"
)

// Replies as the kernel sends them (ip_vs_genl_fill_dest/_service): the
// address as a 16-byte union nf_inet_addr, statistics nested inside.

func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func nest(typ uint16, attrs ...[]byte) []byte {
	var body []byte
	for _, a := range attrs {
		body = append(body, a...)
	}
	return nlbatch.Attr(nil, typ|0x8000, body) // NLA_F_NESTED
}

func reply(cmd uint8, attr []byte) []byte {
	return append([]byte{cmd, ipvsGenlVersion, 0, 0}, attr...)
}

func inetAddr(a string) []byte {
	ip := netip.MustParseAddr(a)
	var b [16]byte
	if ip.Is4() {
		v := ip.As4()
		copy(b[:], v[:])
	} else {
		b = ip.As16()
	}
	return b[:]
}

func destReply(addr string, withAF bool, weight uint32) []byte {
	attrs := [][]byte{
		nlbatch.Attr(nil, ipvsDestAttrAddr, inetAddr(addr)),
		nlbatch.Attr(nil, ipvsDestAttrPort, binary.BigEndian.AppendUint16(nil, 8080)),
		nlbatch.Attr(nil, ipvsDestAttrFwdMethod, u32(3)), // DR
		nlbatch.Attr(nil, ipvsDestAttrWeight, u32(weight)),
		nlbatch.Attr(nil, ipvsDestAttrUThresh, u32(0)),
		nlbatch.Attr(nil, ipvsDestAttrLThresh, u32(0)),
		nlbatch.Attr(nil, ipvsDestAttrActiveConns, u32(4)),
		nlbatch.Attr(nil, ipvsDestAttrInactiveConns, u32(9)),
		nlbatch.Attr(nil, 9, u32(0)), // persistent conns
		nest(10, nlbatch.Attr(nil, 1, u32(77))),
	}
	if withAF {
		af := uint16(unix.AF_INET)
		if netip.MustParseAddr(addr).Is6() {
			af = unix.AF_INET6
		}
		attrs = append(attrs, nlbatch.Attr(nil, ipvsDestAttrAF, u16(af)))
	}
	return reply(ipvsCmdNewDest, nest(ipvsCmdAttrDest, attrs...))
}

func TestParseDestination(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		withAF bool
		weight uint32
		want   int
	}{
		{"10.244.1.5", true, 3, 3},
		{"fd00::5", true, 65535, 65535},
		{"10.244.1.5", false, 1, 1}, // before 3.18: the family from the address
		{"fd00::5", false, 1, 1},
		{"10.244.1.5", true, 65536 + 7, 7}, // moby's 16 bits
	} {
		rs, c, err := parseDestination(destReply(tc.addr, tc.withAF, tc.weight))
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		want := RealServer{RealServerKey: RealServerKey{Address: netip.MustParseAddr(tc.addr), Port: 8080}, Weight: tc.want, Forwarding: Route}
		if rs != want || c != (Conns{Active: 4, Inactive: 9}) {
			t.Errorf("%s af=%v: %+v %+v, want %+v and 4/9 connections", tc.addr, tc.withAF, rs, c, want)
		}
	}
	if _, _, err := parseDestination(reply(ipvsCmdNewDest, nest(ipvsCmdAttrDest, nlbatch.Attr(nil, ipvsDestAttrPort, u16(1))))); err == nil {
		t.Error("a destination without an address parsed")
	}
	if _, _, err := parseDestination([]byte{1, 2}); err == nil {
		t.Error("a short reply parsed")
	}
}

func serviceReply(addr string, proto uint16, fwmark uint32, flags, timeout uint32) []byte {
	af := uint16(unix.AF_INET)
	if netip.MustParseAddr(addr).Is6() {
		af = unix.AF_INET6
	}
	attrs := [][]byte{nlbatch.Attr(nil, ipvsSvcAttrAF, u16(af))}
	if fwmark != 0 {
		attrs = append(attrs, nlbatch.Attr(nil, ipvsSvcAttrFWMark, u32(fwmark)))
	} else {
		attrs = append(attrs,
			nlbatch.Attr(nil, ipvsSvcAttrProtocol, u16(proto)),
			nlbatch.Attr(nil, ipvsSvcAttrAddr, inetAddr(addr)),
			nlbatch.Attr(nil, ipvsSvcAttrPort, binary.BigEndian.AppendUint16(nil, 53)))
	}
	attrs = append(attrs,
		nlbatch.Attr(nil, ipvsSvcAttrSchedName, []byte("mh\x00")),
		nlbatch.Attr(nil, ipvsSvcAttrFlags, append(u32(flags), u32(0xffffffff)...)),
		nlbatch.Attr(nil, ipvsSvcAttrTimeout, u32(timeout)),
		nlbatch.Attr(nil, ipvsSvcAttrNetmask, u32(netmaskIPv4)),
		nest(10, nlbatch.Attr(nil, 1, u32(77))))
	return reply(ipvsCmdNewService, nest(ipvsCmdAttrService, attrs...))
}

func TestParseService(t *testing.T) {
	vs, fw, err := parseService(serviceReply("fd00::a", uint16(UDP), 0, svcFlagPersistent|uint32(SchedFlag2), 600))
	want := VirtualServer{Key: Key{Protocol: UDP, Address: netip.MustParseAddr("fd00::a"), Port: 53}, Scheduler: "mh", Flags: SchedFlag2, Timeout: 600}
	if err != nil || fw || vs != want {
		t.Errorf("persistent v6: %+v %v %v, want %+v", vs, fw, err, want)
	}
	// The timeout of a service that is not persistent means nothing.
	vs, _, err = parseService(serviceReply("10.96.0.10", uint16(SCTP), 0, 0, 300))
	want = VirtualServer{Key: Key{Protocol: SCTP, Address: netip.MustParseAddr("10.96.0.10"), Port: 53}, Scheduler: "mh"}
	if err != nil || vs != want {
		t.Errorf("v4: %+v %v, want %+v", vs, err, want)
	}
	if _, fw, err := parseService(serviceReply("10.96.0.10", 0, 7, 0, 0)); !fw || err != nil {
		t.Errorf("fwmark service: fwmark %v, %v", fw, err)
	}
}

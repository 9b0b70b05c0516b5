package state

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

const (
	clusterSet = "IPVS-PROXY-CLUSTER-IP"
	hairpinSet = "IPVS-PROXY-HAIRPIN"
)

func vs(proto ipvs.Protocol, ap string, sched string, timeout uint32) ipvs.VirtualServer {
	a := netip.MustParseAddrPort(ap)
	return ipvs.VirtualServer{Key: ipvs.Key{Protocol: proto, Address: a.Addr(), Port: a.Port()}, Scheduler: sched, Timeout: timeout}
}

func rs(ap string, w int) ipvs.RealServer {
	a := netip.MustParseAddrPort(ap)
	return ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: a.Addr(), Port: a.Port()}, Weight: w, Forwarding: ipvs.Masquerade}
}

func k(proto ipvs.Protocol, ap string) ipvs.Key { return vs(proto, ap, "", 0).Key }

func mem(set, ip, proto string, port uint16, ip2 string) Member {
	e := ipset.Entry{IP: netip.MustParseAddr(ip), Protocol: proto, Port: port}
	if ip2 != "" {
		e.IP2 = netip.MustParseAddr(ip2)
	}
	return Member{Set: set, Entry: e}
}

// dump renders a State deterministically, one fact a line.
func dump(st State) string {
	var lines []string
	for key, s := range st.Services {
		lines = append(lines, fmt.Sprintf("vs %s sched=%s timeout=%d", key, s.Scheduler, s.Timeout))
		if s.Key != key {
			lines = append(lines, fmt.Sprintf("vs %v: MISMATCHED KEY %v", key, s.Key))
		}
		for r := range s.RealServers.All() {
			lines = append(lines, r.Line(key))
		}
	}
	for a := range st.Addresses {
		lines = append(lines, "addr "+a.String())
	}
	for m := range st.Members.All() {
		lines = append(lines, "member "+m.Set+" "+m.Entry.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func assertState(t *testing.T, got, want State) {
	t.Helper()
	if g, w := dump(got), dump(want); g != w {
		t.Errorf("state mismatch\n--- got:\n%s\n--- want:\n%s", g, w)
	}
}

// randomState draws from small pools so that two random states overlap a lot.
func randomState(r *rand.Rand) State {
	st := New()
	protos := []ipvs.Protocol{ipvs.TCP, ipvs.UDP, ipvs.SCTP}
	vips := []string{"10.96.0.1", "10.96.0.2", "fd00::1"}
	for range r.IntN(6) {
		v := vips[r.IntN(len(vips))]
		a := netip.MustParseAddr(v)
		key := ipvs.Key{Protocol: protos[r.IntN(3)], Address: a, Port: uint16(80 + r.IntN(2))}
		st.AddService(ipvs.VirtualServer{Key: key, Scheduler: []string{"rr", "wrr"}[r.IntN(2)], Timeout: []uint32{0, 600}[r.IntN(2)]})
		for range r.IntN(4) {
			var ra netip.Addr
			if a.Is4() {
				ra = netip.AddrFrom4([4]byte{10, 244, 1, byte(1 + r.IntN(3))})
			} else {
				ra = netip.MustParseAddr(fmt.Sprintf("fd00:244::%d", 1+r.IntN(3)))
			}
			st.AddRealServer(key, ipvs.RealServer{
				RealServerKey: ipvs.RealServerKey{Address: ra, Port: uint16(8080 + r.IntN(2))},
				Weight:        r.IntN(3),
				Forwarding:    []ipvs.Forwarding{ipvs.Masquerade, ipvs.Route}[r.IntN(2)],
			})
		}
	}
	for range r.IntN(4) {
		st.AddAddress(netip.MustParseAddr(vips[r.IntN(len(vips))]))
	}
	for range r.IntN(5) {
		if r.IntN(2) == 0 {
			st.AddMember(clusterSet, ipset.Entry{IP: netip.MustParseAddr(vips[r.IntN(2)]), Protocol: "tcp", Port: uint16(80 + r.IntN(2))})
		} else {
			ip := netip.AddrFrom4([4]byte{10, 244, 1, byte(1 + r.IntN(3))})
			st.AddMember(hairpinSet, ipset.Entry{IP: ip, Protocol: "tcp", Port: 8080, IP2: ip})
		}
	}
	return st
}

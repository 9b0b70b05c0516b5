package conntrack

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

func key(p ipvs.Protocol, s string) ipvs.Key {
	ap := netip.MustParseAddrPort(s)
	return ipvs.Key{Protocol: p, Address: ap.Addr(), Port: ap.Port()}
}

func rsOp(k ipvs.Key, s string) state.RealServerOp {
	ap := netip.MustParseAddrPort(s)
	return state.RealServerOp{Service: k, RealServer: ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: ap.Addr(), Port: ap.Port()}, Weight: 1}}
}

func flow(p ipvs.Protocol, client, dst, replySrc string) Flow {
	c := netip.MustParseAddrPort(client)
	return Flow{Protocol: p, OrigSrc: c, OrigDst: netip.MustParseAddrPort(dst), ReplySrc: netip.MustParseAddrPort(replySrc), ReplyDst: c}
}

var (
	dns     = key(ipvs.UDP, "10.96.0.10:53")
	dnsNode = key(ipvs.UDP, "192.168.1.10:30053")
	web     = key(ipvs.TCP, "10.96.0.20:80")
	sctp    = key(ipvs.SCTP, "[fd00::30]:9999")
)

func TestForPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan state.Plan
		want string
	}{{
		name: "UDP endpoint removed: its flows through each virtual server",
		plan: state.Plan{DeleteRealServers: []state.RealServerOp{rsOp(dns, "10.244.1.5:53"), rsOp(dnsNode, "10.244.1.5:53")}},
		want: "-p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.5 --reply-port-src 53\n" +
			"-p udp --orig-dst 192.168.1.10 --orig-port-dst 30053 --reply-src 10.244.1.5 --reply-port-src 53\n",
	}, {
		name: "TCP is left to the connection's end",
		plan: state.Plan{DeleteRealServers: []state.RealServerOp{rsOp(web, "10.244.1.5:80")}, DeleteServices: []ipvs.Key{web}},
		want: "",
	}, {
		name: "cluster IP or node port changed: the old virtual server's flows, all of them",
		plan: state.Plan{
			AddServices:    []ipvs.VirtualServer{{Key: key(ipvs.UDP, "10.96.0.11:53"), Scheduler: "rr"}},
			DeleteServices: []ipvs.Key{dns, dnsNode, sctp},
		},
		want: "-p udp --orig-dst 10.96.0.10 --orig-port-dst 53\n" +
			"-p udp --orig-dst 192.168.1.10 --orig-port-dst 30053\n" +
			"-p sctp --orig-dst fd00::30 --orig-port-dst 9999\n",
	}, {
		name: "first endpoints of a UDP Service: flows tracked without NAT go",
		plan: state.Plan{AddRealServers: state.RealServerAddsOf(rsOp(dns, "10.244.1.5:53"), rsOp(dns, "10.244.2.5:53"))},
		want: "-p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.96.0.10 --reply-port-src 53\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			for _, f := range ForPlan(tc.plan) {
				b.WriteString(f.String() + "\n")
			}
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestFilterMatchAndFake(t *testing.T) {
	gone := flow(ipvs.UDP, "10.244.3.3:40000", "10.96.0.10:53", "10.244.1.5:53")
	kept := flow(ipvs.UDP, "10.244.3.3:40001", "10.96.0.10:53", "10.244.2.5:53")
	otherPort := flow(ipvs.UDP, "10.244.3.3:40002", "10.96.0.10:54", "10.244.1.5:53")
	tcpSame := flow(ipvs.TCP, "10.244.3.3:40003", "10.96.0.10:53", "10.244.1.5:53")
	nodePort := flow(ipvs.UDP, "192.168.1.100:5000", "192.168.1.10:30053", "10.244.1.5:53")
	unNATed := flow(ipvs.UDP, "10.244.3.3:40004", "10.96.0.10:53", "10.96.0.10:53")
	f := NewFake(gone, kept, otherPort, tcpSame, nodePort, unNATed)

	n, err := f.Delete(ForPlan(state.Plan{DeleteRealServers: []state.RealServerOp{rsOp(dns, "10.244.1.5:53")}}))
	if err != nil || n != 1 {
		t.Fatalf("endpoint removed: deleted %d, %v; want 1", n, err)
	}
	if fl := f.Flows(); len(fl) != 5 || fl[0] != kept {
		t.Errorf("left %v", fl)
	}
	n, _ = f.Delete(ForPlan(state.Plan{AddRealServers: state.RealServerAddsOf(rsOp(dns, "10.244.9.9:53"))}))
	if n != 1 || len(f.Flows()) != 4 {
		t.Errorf("untranslated: deleted %d, left %v", n, f.Flows())
	}
	n, _ = f.Delete(ForPlan(state.Plan{DeleteServices: []ipvs.Key{dns, dnsNode}}))
	if n != 2 {
		t.Errorf("virtual servers removed: deleted %d, left %v", n, f.Flows())
	}
	if fl := f.Flows(); len(fl) != 2 || fl[0] != otherPort || fl[1] != tcpSame {
		t.Errorf("left %v; want only the other port's and the TCP flow", fl)
	}
	if len(f.Calls()) != 3 {
		t.Errorf("calls %v", f.Calls())
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

package ledger_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

const (
	C4, N4, C6, N6 = ledger.ClusterIPSet4, ledger.NodePortSet4, ledger.ClusterIPSet6, ledger.NodePortSet6
	H4, H6         = "IPVS-PROXY-HAIRPIN", "IPVS-PROXY6-HAIRPIN"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// key parses "tcp 10.96.0.10:80".
func key(s string) ipvs.Key {
	p, ap, _ := strings.Cut(s, " ")
	proto, err := ipvs.ParseProtocol(p)
	if err != nil {
		panic(err)
	}
	a := netip.MustParseAddrPort(ap)
	return ipvs.Key{Protocol: proto, Address: a.Addr(), Port: a.Port()}
}

// member parses "SET 10.96.0.10,tcp:80[,10.244.1.5]".
func member(s string) state.Member {
	set, e, _ := strings.Cut(s, " ")
	ip, rest, _ := strings.Cut(e, ",")
	pp, ip2, _ := strings.Cut(rest, ",")
	proto, port, _ := strings.Cut(pp, ":")
	n := 0
	for _, c := range port {
		n = n*10 + int(c-'0')
	}
	m := state.Member{Set: set, Entry: ipset.Entry{IP: addr(ip), Protocol: proto, Port: uint16(n)}}
	if ip2 != "" {
		m.Entry.IP2 = addr(ip2)
	}
	return m
}

func members(ss ...string) state.MemberSet {
	out := state.NewMemberSet(0)
	for _, s := range ss {
		out.Add(member(s))
	}
	return out
}

func TestLedgerSetsAreDesiredSets(t *testing.T) {
	for _, a := range []netip.Addr{addr("10.0.0.1"), addr("fd00::1")} {
		d, l := desired.Sets(a), ledger.SetsFor(a)
		if d.ClusterIP != l.ClusterIP || d.NodePort != l.NodePort {
			t.Errorf("%s: desired %v, ledger %v", a, d, l)
		}
		if !ledger.IsLedgerSet(l.ClusterIP) || !ledger.IsLedgerSet(l.NodePort) || ledger.IsLedgerSet(d.Hairpin) {
			t.Errorf("IsLedgerSet wrong for %v", d)
		}
	}
}

func TestRead(t *testing.T) {
	ms := members(
		C4+" 10.96.0.10,tcp:80",
		C4+" 10.96.0.10,udp:53",
		N4+" 192.168.1.10,tcp:30080",
		H4+" 10.244.1.5,tcp:8080,10.244.1.5",
		C6+" fd00::10,sctp:9999",
		N6+" fd00:1::10,tcp:30080",
		H6+" fd00:244::5,tcp:8080,fd00:244::5",
		"SOMEONE-ELSES-SET 10.96.0.99,tcp:80",
		C4+" 10.96.0.98,icmp:0", // unknown protocol: ignored
	)
	o, oa := ledger.Read(ms), ledger.ReadAddresses(ms)
	for _, k := range []string{"tcp 10.96.0.10:80", "udp 10.96.0.10:53", "tcp 192.168.1.10:30080", "sctp [fd00::10]:9999", "tcp [fd00:1::10]:30080"} {
		if !o.OwnsService(key(k)) || !ledger.Owns(ms, key(k)) {
			t.Errorf("OwnsService(%s) = %v, Owns = %v, want true", k, o.OwnsService(key(k)), ledger.Owns(ms, key(k)))
		}
	}
	for _, k := range []string{
		"tcp 10.244.1.5:8080", "tcp [fd00:244::5]:8080", // hairpin members imply nothing
		"tcp 10.96.0.99:80",   // foreign set
		"tcp 10.96.0.10:81",   // other port
		"udp 10.96.0.10:80",   // other protocol
		"tcp 192.168.1.10:80", // other port on a node address
	} {
		if o.OwnsService(key(k)) || ledger.Owns(ms, key(k)) {
			t.Errorf("OwnsService(%s) = %v, Owns = %v, want false", k, o.OwnsService(key(k)), ledger.Owns(ms, key(k)))
		}
	}
	for _, a := range []string{"10.96.0.10", "fd00::10"} {
		if !o.OwnsAddress(addr(a)) || !oa.OwnsAddress(addr(a)) {
			t.Errorf("OwnsAddress(%s) = false (Read %v, ReadAddresses %v)", a, o.OwnsAddress(addr(a)), oa.OwnsAddress(addr(a)))
		}
	}
	// NODE-PORT and HAIRPIN members imply no address.
	for _, a := range []string{"192.168.1.10", "fd00:1::10", "10.244.1.5", "fd00:244::5", "10.96.0.99", "10.96.0.98"} {
		if o.OwnsAddress(addr(a)) || oa.OwnsAddress(addr(a)) {
			t.Errorf("OwnsAddress(%s) = true (Read %v, ReadAddresses %v)", a, o.OwnsAddress(addr(a)), oa.OwnsAddress(addr(a)))
		}
	}
	empty := ledger.Read(state.MemberSet{})
	if empty.OwnsService(key("tcp 10.96.0.10:80")) || empty.OwnsAddress(addr("10.96.0.10")) {
		t.Error("empty ownership owns something")
	}
}

func TestMembersAndRecords(t *testing.T) {
	k := key("udp 10.96.0.10:53")
	got := ledger.Members(k)
	if len(got) != 4 || got[0].Set != C4 || got[1].Set != N4 || got[2].Set != ledger.ExternalIPSet4 || got[3].Set != ledger.LoadBalancerSet4 ||
		got[0].Entry.String() != "10.96.0.10,udp:53" || got[1].Entry != got[0].Entry || got[3].Entry != got[0].Entry {
		t.Errorf("Members(%v) = %v", k, got)
	}
	k6 := key("tcp [fd00::10]:80")
	if got := ledger.Members(k6); got[0].Set != C6 || got[1].Set != N6 || got[0].Entry.String() != "fd00::10,tcp:80" {
		t.Errorf("Members(%v) = %v", k6, got)
	}
	for _, tc := range []struct {
		m           string
		k           string // "" = records nothing
		recordsAddr bool
	}{
		{C4 + " 10.96.0.10,udp:53", "udp 10.96.0.10:53", true},
		{N4 + " 192.168.1.10,tcp:30080", "tcp 192.168.1.10:30080", false},
		{ledger.ExternalIPSet4 + " 203.0.113.7,tcp:80", "tcp 203.0.113.7:80", true},
		{ledger.LoadBalancerSet6 + " fd00:5::9,udp:53", "udp [fd00:5::9]:53", true},
		{"IPVS-PROXY-EXTERNAL-IP-LOCAL 203.0.113.7,tcp:80", "", false}, // a marker set records nothing
		{C6 + " fd00::10,sctp:9999", "sctp [fd00::10]:9999", true},
		{H4 + " 10.244.1.5,tcp:8080,10.244.1.5", "", false},
		{C6 + " 10.96.0.10,tcp:80", "", false}, // IPv4 entry in the IPv6 set
		{C4 + " 10.96.0.10,icmp:0", "", false},
	} {
		k, ok, a := ledger.Records(member(tc.m))
		if ok != (tc.k != "") || ok && (k != key(tc.k) || a != tc.recordsAddr) {
			t.Errorf("Records(%s) = %v, %v, %v; want %q, address %v", tc.m, k, ok, a, tc.k, tc.recordsAddr)
		}
	}
	// Every member recording k reads back as k.
	for _, m := range ledger.Members(k) {
		if got, ok, _ := ledger.Records(m); !ok || got != k {
			t.Errorf("Records(%v) = %v, %v", m, got, ok)
		}
	}
}

// What desired plans for a Service is recorded exactly as the ledger reads
// it back: every virtual server is owned, every address is owned.
func TestDesiredRoundTrip(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080}},
		},
	}
	st, err := desired.ForService(svc, nil, []netip.Addr{addr("192.168.1.10")}, desired.Options{Scheduler: "rr"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != 2 {
		t.Fatalf("ForService planned %d virtual servers", len(st.Services))
	}
	o := ledger.Read(st.Members)
	for k := range st.Services {
		if !o.OwnsService(k) {
			t.Errorf("%v planned but not recorded", k)
		}
		n := 0
		for _, m := range ledger.Members(k) {
			if st.Members.Has(m) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%v recorded by %d members, want 1", k, n)
		}
	}
	for a := range st.Addresses {
		if !o.OwnsAddress(a) {
			t.Errorf("address %v planned but not recorded", a)
		}
	}
}

func TestLostFrom(t *testing.T) {
	cached := members(C4+" 10.96.0.10,tcp:80", C4+" 10.96.0.11,tcp:80", N4+" 192.168.1.10,tcp:30080", H4+" 10.244.1.5,tcp:8080,10.244.1.5")
	found := members(C4+" 10.96.0.10,tcp:80", C4+" 10.96.0.12,tcp:80")
	lost := ledger.LostFrom(cached, found)
	// The hairpin member is not part of the ledger; the new member was not lost.
	want := ledger.Lost{member(C4 + " 10.96.0.11,tcp:80"): true, member(N4 + " 192.168.1.10,tcp:30080"): true}
	if len(lost) != len(want) {
		t.Errorf("LostFrom = %v, want %v", lost, want)
	}
	for m := range want {
		if !lost[m] {
			t.Errorf("%v not lost", m)
		}
	}
	if got := ledger.LostFrom(state.MemberSet{}, found); len(got) != 0 {
		t.Errorf("a process without a cache lost %v", got)
	}
}

func TestAdopt(t *testing.T) {
	cip, np := key("tcp 10.96.0.10:80"), key("tcp 192.168.1.10:30080")
	want := state.New()
	want.AddService(ipvs.VirtualServer{Key: cip, Scheduler: "rr"})
	want.AddService(ipvs.VirtualServer{Key: np, Scheduler: "rr", Timeout: 600})
	want.Members = members(C4+" 10.96.0.10,tcp:80", N4+" 192.168.1.10,tcp:30080")
	onDummy := func(a netip.Addr) bool { return a == addr("10.96.0.10") }
	offDummy := func(netip.Addr) bool { return false }
	for _, tc := range []struct {
		name    string
		vs      ipvs.VirtualServer
		lost    ledger.Lost
		onDummy func(netip.Addr) bool
		want    string // the member written, "" = not adopted
	}{
		{"ClusterIP on our dummy link, ledger intact", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, nil, onDummy, C4 + " 10.96.0.10,tcp:80"},
		{"ClusterIP off the dummy link, ledger intact", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, nil, offDummy, ""},
		{"ClusterIP off the dummy link, its member lost", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, ledger.Lost{member(C4 + " 10.96.0.10,tcp:80"): true}, offDummy, C4 + " 10.96.0.10,tcp:80"},
		{"ClusterIP, only a NodePort member lost", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, ledger.Lost{member(N4 + " 192.168.1.10,tcp:30080"): true}, offDummy, ""},
		{"NodePort, its member lost", ipvs.VirtualServer{Key: np, Scheduler: "rr", Timeout: 600}, ledger.Lost{member(N4 + " 192.168.1.10,tcp:30080"): true}, onDummy, N4 + " 192.168.1.10,tcp:30080"},
		{"NodePort, ledger intact", ipvs.VirtualServer{Key: np, Scheduler: "rr", Timeout: 600}, nil, onDummy, ""},
		{"other scheduler, on our dummy link: foreign", ipvs.VirtualServer{Key: cip, Scheduler: "wrr"}, nil, onDummy, ""},
		{"other scheduler, record lost: ours, edited in place", ipvs.VirtualServer{Key: cip, Scheduler: "wrr"}, ledger.Lost{member(C4 + " 10.96.0.10,tcp:80"): true}, offDummy, C4 + " 10.96.0.10,tcp:80"},
		{"other persistence, record lost: ours", ipvs.VirtualServer{Key: np, Scheduler: "rr"}, ledger.Lost{member(N4 + " 192.168.1.10,tcp:30080"): true}, onDummy, N4 + " 192.168.1.10,tcp:30080"},
		{"not desired, on our dummy link", ipvs.VirtualServer{Key: key("tcp 10.96.0.11:80"), Scheduler: "rr"}, ledger.Lost{member(C4 + " 10.96.0.10,tcp:80"): true}, func(netip.Addr) bool { return true }, ""},
		{"not desired, record lost: ours (to be deleted)", ipvs.VirtualServer{Key: key("tcp 10.96.0.11:80"), Scheduler: "rr"}, ledger.Lost{member(C4 + " 10.96.0.11,tcp:80"): true}, offDummy, C4 + " 10.96.0.11,tcp:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := ledger.Adopt(tc.vs, want, tc.lost, tc.onDummy)
			if ok != (tc.want != "") || ok && m != member(tc.want) {
				t.Errorf("Adopt = %v, %v; want %q", m, ok, tc.want)
			}
		})
	}
}

func TestDisown(t *testing.T) {
	k := key("tcp 10.96.0.10:80")
	added := func(ms ...string) func(state.Member) bool {
		return func(m state.Member) bool { return slices.Contains(ms, m.Set+" "+m.Entry.String()) }
	}
	// We added its member and its address, and nothing else of ours is there.
	drop, dropAddr := ledger.Disown(k, added(C4+" 10.96.0.10,tcp:80"), true, members(C4+" 10.96.0.10,tcp:80"))
	if len(drop) != 1 || drop[0] != member(C4+" 10.96.0.10,tcp:80") || !dropAddr {
		t.Errorf("Disown = %v, %v", drop, dropAddr)
	}
	// Another ClusterIP member of ours carries the address: it stays.
	drop, dropAddr = ledger.Disown(k, added(C4+" 10.96.0.10,tcp:80"), true, members(C4+" 10.96.0.10,tcp:80", C4+" 10.96.0.10,udp:53"))
	if len(drop) != 1 || dropAddr {
		t.Errorf("Disown with a sibling = %v, %v", drop, dropAddr)
	}
	// Nothing added by this apply: nothing to take back.
	drop, dropAddr = ledger.Disown(k, added(), false, members(C4+" 10.96.0.10,tcp:80"))
	if len(drop) != 0 || dropAddr {
		t.Errorf("Disown of nothing added = %v, %v", drop, dropAddr)
	}
}

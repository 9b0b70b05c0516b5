package ledger_test

import (
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

func entry(s string) ipset.Entry { return member("X " + s).Entry }

func TestKubeProxyEvidenceSets(t *testing.T) {
	rec, np := ledger.KubeProxyEvidenceSets()
	for _, want := range []string{"KUBE-CLUSTER-IP", "KUBE-6-CLUSTER-IP", "KUBE-LOAD-BALANCER", "KUBE-6-EXTERNAL-IP"} {
		if !contains(rec, want) {
			t.Errorf("recording sets %v lack %s", rec, want)
		}
	}
	for _, want := range []string{"KUBE-NODE-PORT-TCP", "KUBE-6-NODE-PORT-UDP", "KUBE-NODE-PORT-SCTP-HASH", "KUBE-6-NODE-PORT-SCTP-HASH"} {
		if !contains(np, want) {
			t.Errorf("NodePort sets %v lack %s", np, want)
		}
	}
	for _, s := range append(rec, np...) {
		if len(s) > 31 {
			t.Errorf("%s: longer than the kernel's 31 characters", s)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestReadKubeProxy(t *testing.T) {
	kp := ledger.ReadKubeProxy(map[string][]ipset.Entry{
		"KUBE-CLUSTER-IP":   {entry("10.96.0.10,tcp:80"), entry("10.96.0.10,udp:53")},
		"KUBE-6-CLUSTER-IP": {entry("fd00::10,tcp:80")},
		"KUBE-LOOP-BACK":    {entry("10.244.1.5,tcp:80,10.244.1.5")}, // not a virtual server
		"KUBE-IPVS-IPS":     {{IP: addr("10.96.0.10")}},              // hash:ip: not a virtual server
	}, []string{"KUBE-CLUSTER-IP", "KUBE-NODE-PORT-TCP", "KUBE-6-NODE-PORT-UDP"})
	for _, tc := range []struct {
		k       string
		onDummy bool
		want    bool
	}{
		{"tcp 10.96.0.10:80", true, true},
		{"udp 10.96.0.10:53", true, true},
		{"tcp [fd00::10]:80", true, true},
		{"tcp 10.96.0.11:80", true, true},        // on the dummy link, not recorded (its records lag): kube-proxy's
		{"tcp 192.168.1.10:30080", false, true},  // NodePort, KUBE-NODE-PORT-TCP exists
		{"udp 192.168.1.10:30053", false, false}, // no KUBE-NODE-PORT-UDP
		{"udp [fd00::1]:30053", false, true},     // KUBE-6-NODE-PORT-UDP exists
		{"tcp [fd00::1]:30080", false, false},
	} {
		if got := kp.Owned(key(tc.k), tc.onDummy); got != tc.want {
			t.Errorf("Owned(%s, onDummy %v) = %v, want %v", tc.k, tc.onDummy, got, tc.want)
		}
	}
	if !kp.Present() {
		t.Error("Present = false")
	}
	if ledger.ReadKubeProxy(nil, nil).Present() {
		t.Error("nothing read, Present = true")
	}
}

func TestTakeOver(t *testing.T) {
	cip, np, lb := key("tcp 10.96.0.10:80"), key("tcp 192.168.1.10:30080"), key("tcp 10.96.0.99:80")
	want := state.New()
	want.AddService(ipvs.VirtualServer{Key: cip, Scheduler: "rr"})
	want.AddService(ipvs.VirtualServer{Key: np, Scheduler: "rr"})
	want.AddService(ipvs.VirtualServer{Key: lb, Scheduler: "rr"})
	want.Members = members(C4+" 10.96.0.10,tcp:80", N4+" 192.168.1.10,tcp:30080", ledger.LoadBalancerSet4+" 10.96.0.99,tcp:80")
	kp := ledger.ReadKubeProxy(map[string][]ipset.Entry{
		"KUBE-CLUSTER-IP":    {entry("10.96.0.10,tcp:80"), entry("10.96.0.12,tcp:80")},
		"KUBE-LOAD-BALANCER": {entry("10.96.0.99,tcp:80")},
	}, []string{"KUBE-CLUSTER-IP", "KUBE-LOAD-BALANCER", "KUBE-NODE-PORT-TCP"})
	dummy := func(a netip.Addr) bool { return a.String() != "192.168.1.10" }
	for _, tc := range []struct {
		name    string
		vs      ipvs.VirtualServer
		kp      ledger.KubeProxy
		onDummy func(netip.Addr) bool
		want    string // member written; "" = not adopted
	}{
		{"ClusterIP it recorded, desired", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, kp, dummy, C4 + " 10.96.0.10,tcp:80"},
		{"other scheduler and persistence: adopted, edited by the diff", ipvs.VirtualServer{Key: cip, Scheduler: "lc", Timeout: 10800}, kp, dummy, C4 + " 10.96.0.10,tcp:80"},
		{"NodePort on a node address", ipvs.VirtualServer{Key: np, Scheduler: "rr"}, kp, dummy, N4 + " 192.168.1.10,tcp:30080"},
		{"LoadBalancer it recorded", ipvs.VirtualServer{Key: lb, Scheduler: "rr"}, kp, dummy, ledger.LoadBalancerSet4 + " 10.96.0.99,tcp:80"},
		{"recorded but not desired", ipvs.VirtualServer{Key: key("tcp 10.96.0.12:80"), Scheduler: "rr"}, kp, dummy, ""},
		{"ClusterIP off the dummy link", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, kp, func(netip.Addr) bool { return false }, ""},
		{"NodePort key on the dummy link", ipvs.VirtualServer{Key: np, Scheduler: "rr"}, kp, func(netip.Addr) bool { return true }, ""},
		{"no kube-proxy evidence", ipvs.VirtualServer{Key: cip, Scheduler: "rr"}, ledger.ReadKubeProxy(nil, nil), dummy, ""},
		{"NodePort without its set", ipvs.VirtualServer{Key: np, Scheduler: "rr"}, ledger.ReadKubeProxy(nil, []string{"KUBE-NODE-PORT-UDP"}), dummy, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := ledger.TakeOver(tc.vs, want, tc.kp, tc.onDummy)
			if ok != (tc.want != "") || ok && m != member(tc.want) {
				t.Errorf("TakeOver = %v, %v; want %q", m, ok, tc.want)
			}
		})
	}
}

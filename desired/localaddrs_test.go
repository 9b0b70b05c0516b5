package desired

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// kube-proxy's nodeAddressSet (GetAllLocalAddressesExcept + isValidForSet):
// every link but the dummy one, no loopback, no IPv6 link-local; IPv4
// link-local stays, and nodePortAddresses plays no part.
func TestLocalAddresses(t *testing.T) {
	in := []netif.Address{
		{Link: "eth0", Addr: addr("192.168.70.2")},
		{Link: "eth1", Addr: addr("192.168.80.2")},
		{Link: "eth0", Addr: addr("fd00:70::2")},
		{Link: "eth0", Addr: addr("fe80::1%eth0")},
		{Link: "eth2", Addr: addr("169.254.3.4")},
		{Link: "lo", Addr: addr("127.0.0.1")},
		{Link: "lo", Addr: addr("::1")},
		{Link: "kube-ipvs0", Addr: addr("10.96.0.10")},
		{Link: "kube-ipvs0", Addr: addr("192.168.90.9")},
		{Link: "eth3", Addr: addr("192.168.90.9")}, // also on another link: local
		{Link: "eth1", Addr: addr("::ffff:192.168.80.2")},
	}
	got := LocalAddresses(in, "kube-ipvs0")
	want := addrs("169.254.3.4", "192.168.70.2", "192.168.80.2", "192.168.90.9", "fd00:70::2")
	if !slices.Equal(got, want) {
		t.Errorf("LocalAddresses = %v, want %v", got, want)
	}
}

// The known gap of README "External IPs and load balancers", closed: an
// external IP or LB IP that is a node address outside nodePortAddresses
// gets its virtual server but is neither bound on the dummy link nor in the
// VIPs set (kube-proxy: shouldBind := !nodeAddressSet.Has(addr)); one
// inside nodePortAddresses likewise; one that is no node address is bound.
func TestForServiceOnLocalAddresses(t *testing.T) {
	node := NodeAddrs{
		NodePort: addrs("192.168.70.2"), // nodePortAddresses 192.168.70.0/24
		Local:    addrs("192.168.70.2", "192.168.80.2", "192.168.80.3", "fd00:70::2"),
	}
	s := svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeLoadBalancer),
		extIPs("192.168.80.2", "192.168.70.2", "203.0.113.7"), ingress("192.168.80.3", "198.51.100.9"))
	w := want{
		vs: map[string]vsWant{
			"tcp 10.96.0.10:80":      {"rr", 0, nil},
			"tcp 192.168.70.2:30080": {"rr", 0, nil}, // the only NodePort address
			"tcp 192.168.80.2:80":    {"rr", 0, nil}, // external IP, node address outside nodePortAddresses
			"tcp 192.168.70.2:80":    {"rr", 0, nil}, // external IP, node address inside
			"tcp 203.0.113.7:80":     {"rr", 0, nil}, // external IP, no node address
			"tcp 192.168.80.3:80":    {"rr", 0, nil}, // LB IP, node address outside nodePortAddresses
			"tcp 198.51.100.9:80":    {"rr", 0, nil}, // LB IP, no node address
		},
		addrs: []string{"10.96.0.10", "203.0.113.7", "198.51.100.9"},
		mems: []string{
			C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.70.2,tcp:30080",
			E4 + " 192.168.70.2,tcp:80", E4 + " 192.168.80.2,tcp:80", E4 + " 203.0.113.7,tcp:80",
			LB4 + " 192.168.80.3,tcp:80", LB4 + " 198.51.100.9,tcp:80",
			V4 + " 10.96.0.10", V4 + " 203.0.113.7", V4 + " 198.51.100.9",
		},
	}
	got, err := ForServiceOn(s, nil, node, opt)
	if err != nil {
		t.Fatal(err)
	}
	assertState(t, got, w.state())

	// Build passes Input.LocalAddresses on.
	built, errs := Build(Input{Services: []*corev1.Service{s}, NodeAddresses: node.NodePort, LocalAddresses: node.Local}, opt)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	assertState(t, built, w.state())

	// Without the local addresses (ForService) only the NodePort ones are
	// known to be the node's: the others are bound, as before the fix.
	old, _ := ForService(s, nil, node.NodePort, opt)
	for _, a := range []string{"192.168.80.2", "192.168.80.3"} {
		if _, bound := old.Addresses[addr(a)]; !bound {
			t.Errorf("ForService without local addresses: %s not bound; the test above proves nothing", a)
		}
	}
}

func TestBindCandidates(t *testing.T) {
	s := svc("default/web", "10.96.0.10,fd00::10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer),
		extIPs("2001:db8::7", "203.0.113.7", "bogus"), ingress("198.51.100.9"), ingressProxy("198.51.100.10"))
	got := BindCandidates(s)
	want := addrs("203.0.113.7", "198.51.100.9", "2001:db8::7")
	if !slices.Equal(got, want) {
		t.Errorf("BindCandidates = %v, want %v", got, want)
	}
}

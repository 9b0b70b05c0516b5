package desired

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

func TestGroupSlices(t *testing.T) {
	a := slice("default/web-a", "web")
	b := slice("default/web-b", "web")
	other := slice("other/web-x", "web") // same label value, other namespace
	api := slice("default/api-1", "api")
	unlabelled := slice("default/orphan", "")
	empty := slice("default/empty", "")
	empty.Labels[ServiceNameLabel] = ""

	got := GroupSlices([]*discoveryv1.EndpointSlice{a, other, api, b, unlabelled, empty})
	want := map[types.NamespacedName][]*discoveryv1.EndpointSlice{
		nn("default/web"): {a, b},
		nn("other/web"):   {other},
		nn("default/api"): {api},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d groups %v, want %d", len(got), got, len(want))
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("group %v = %v, want %v", k, got[k], w)
		}
	}
}

func TestBuild(t *testing.T) {
	web := svc("default/web", "10.96.0.10", tcp("http", 80))
	badNodePort := svc("default/bad-np", "10.96.0.11", port("http", corev1.ProtocolTCP, 80, 99999), typ(corev1.ServiceTypeNodePort))
	badIP := svc("default/bad-ip", "not-an-ip", tcp("http", 80))
	headless := svc("default/headless", "None", tcp("http", 80))
	api := svc("other/api", "10.96.0.20", port("grpc", corev1.ProtocolTCP, 9000, 30900), typ(corev1.ServiceTypeNodePort))

	in := Input{
		Services: []*corev1.Service{api, badIP, web, headless, badNodePort},
		Slices: []*discoveryv1.EndpointSlice{
			slice("default/web-a", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"), ep("bogus")),
			// same label value in another namespace: not web's
			slice("other/web-x", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.9.9")),
			slice("other/api-1", "api", sport("grpc", corev1.ProtocolTCP, 9090), ep("10.244.3.3")),
			// api's name, web's namespace: not api's
			slice("default/api-x", "api", sport("grpc", corev1.ProtocolTCP, 9090), ep("10.244.8.8")),
		},
		NodeAddresses: addrs("192.168.1.10"),
	}
	got, errs := Build(in, opt)

	w := want{
		vs: map[string]vsWant{
			"tcp 10.96.0.10:80":      {"rr", 0, []string{"10.244.1.5:8080"}},
			"tcp 10.96.0.20:9000":    {"rr", 0, []string{"10.244.3.3:9090"}},
			"tcp 192.168.1.10:30900": {"rr", 0, []string{"10.244.3.3:9090"}},
		},
		addrs: []string{"10.96.0.10", "10.96.0.20"},
		mems: []string{
			C4 + " 10.96.0.10,tcp:80", C4 + " 10.96.0.20,tcp:9000", N4 + " 192.168.1.10,tcp:30900",
			H4 + " 10.244.1.5,tcp:8080,10.244.1.5", H4 + " 10.244.3.3,tcp:9090,10.244.3.3",
		},
	}
	assertState(t, got, w.state())

	// one error per bad object, sorted by Service
	var objs []string
	for _, err := range errs {
		var oe *ObjectError
		if !errors.As(err, &oe) {
			t.Fatalf("%v is not an *ObjectError", err)
		}
		objs = append(objs, oe.Object)
	}
	wantObjs := []string{"Service default/bad-ip", "Service default/bad-np", "Service default/web"}
	if !slices.Equal(objs, wantObjs) {
		t.Errorf("errors for %v, want %v (errs %v)", objs, wantObjs, errs)
	}
	if len(errs) == 3 && !strings.Contains(errs[2].Error(), "EndpointSlice default/web-a") {
		t.Errorf("endpoint error %q does not name the slice", errs[2])
	}

	// Build must equal the merge of ForService fragments.
	merged, _ := Build(Input{Services: []*corev1.Service{web}, Slices: in.Slices, NodeAddresses: in.NodeAddresses}, opt)
	apiOnly, _ := Build(Input{Services: []*corev1.Service{api}, Slices: in.Slices, NodeAddresses: in.NodeAddresses}, opt)
	merged.Merge(apiOnly)
	assertState(t, got, merged)

	// Empty input.
	empty, errs := Build(Input{}, opt)
	if len(errs) != 0 || len(empty.Services)+len(empty.Addresses)+empty.Members.Len() != 0 {
		t.Errorf("Build(empty) = %s, %v", dump(empty), errs)
	}
}

func TestFilterNodeAddresses(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		name string
		in   []netip.Addr
		pfx  []netip.Prefix
		want []netip.Addr
	}{
		{"empty", nil, nil, nil},
		{
			"drops loopback, link-local, unspecified, multicast, invalid",
			append(addrs("127.0.0.1", "::1", "169.254.1.1", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "192.168.1.10", "fd00:1::10"), netip.Addr{}),
			nil,
			addrs("192.168.1.10", "fd00:1::10"),
		},
		{
			"sorted and deduplicated, IPv4-mapped unmapped",
			addrs("192.168.1.11", "10.0.0.5", "192.168.1.11", "fd00::2", "::ffff:10.0.0.5", "fd00::1"),
			nil,
			addrs("10.0.0.5", "192.168.1.11", "fd00::1", "fd00::2"),
		},
		{
			"nodePortAddresses CIDR filtering",
			addrs("192.168.1.10", "10.0.0.5", "172.16.0.1", "fd00:1::10", "2001:db8::1"),
			pfx("192.168.0.0/16", "10.0.0.0/8", "fd00::/8"),
			addrs("10.0.0.5", "192.168.1.10", "fd00:1::10"),
		},
		{
			"prefixes do not re-admit loopback",
			addrs("127.0.0.1", "192.168.1.10"),
			pfx("0.0.0.0/0"),
			addrs("192.168.1.10"),
		},
		{
			// issue #9 item 5: kube-proxy treats a family without a CIDR as all its addresses.
			"CIDRs of one family only: the other family keeps all its addresses",
			addrs("192.168.1.10", "10.0.0.5", "fd00:1::10", "2001:db8::1"),
			pfx("192.168.0.0/16"),
			addrs("192.168.1.10", "2001:db8::1", "fd00:1::10"),
		},
		{
			"IPv6 CIDRs only: IPv4 keeps all",
			addrs("192.168.1.10", "10.0.0.5", "fd00:1::10", "2001:db8::1"),
			pfx("fd00::/8"),
			addrs("10.0.0.5", "192.168.1.10", "fd00:1::10"),
		},
		{
			"broadcast dropped",
			addrs("255.255.255.255", "192.168.1.10"),
			nil,
			addrs("192.168.1.10"),
		},
		{
			"prefix matching nothing gives nothing",
			addrs("192.168.1.10"),
			pfx("10.0.0.0/8"),
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FilterNodeAddresses(tt.in, tt.pfx)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodePortAddresses(t *testing.T) {
	local := []netif.Address{
		{Link: "lo", Addr: addr("127.0.0.1")},
		{Link: "lo", Addr: addr("::1")},
		{Link: "eth0", Addr: addr("192.168.1.10")},
		{Link: "eth0", Addr: addr("fe80::1")},
		{Link: "eth0", Addr: addr("fd00:1::10")},
		{Link: "eth1", Addr: addr("10.0.0.5")},
		{Link: "eth1", Addr: addr("192.168.1.10")}, // duplicate
		{Link: "kube-ipvs0", Addr: addr("10.96.0.10")},
		{Link: "kube-ipvs0", Addr: addr("fd00::10")},
		{Link: "cni0", Addr: addr("169.254.3.3")},
	}
	got := NodePortAddresses(local, "kube-ipvs0", nil)
	if want := addrs("10.0.0.5", "192.168.1.10", "fd00:1::10"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got = NodePortAddresses(local, "kube-ipvs0", []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")})
	// IPv4 prefixes only: IPv6 keeps every address (issue #9 item 5).
	if want := addrs("192.168.1.10", "fd00:1::10"); !slices.Equal(got, want) {
		t.Errorf("with prefixes: got %v, want %v (dummy-link addresses must stay dropped)", got, want)
	}
}

func TestNodeObjectAddresses(t *testing.T) {
	n := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "node-a"},
		{Type: corev1.NodeInternalIP, Address: "192.168.1.10"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.5"},
		{Type: corev1.NodeInternalIP, Address: "garbage"},
		{Type: corev1.NodeInternalDNS, Address: "node-a.local"},
		{Type: corev1.NodeInternalIP, Address: "fd00:1::10"},
	}}}
	if got, want := NodeObjectAddresses(n), addrs("192.168.1.10", "203.0.113.5", "fd00:1::10"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNodePortPrefixes(t *testing.T) {
	primary := addrs("192.168.1.10", "fd00:1::10")
	for _, tt := range []struct {
		name    string
		list    []string
		primary []netip.Addr
		want    []string
	}{
		{"none", nil, primary, nil},
		{"CIDRs masked", []string{"10.1.2.3/8", "fd00::1/64"}, primary, []string{"10.0.0.0/8", "fd00::/64"}},
		{"primary: the Node's IPs, one per family", []string{"primary"}, primary, []string{"192.168.1.10/32", "fd00:1::10/128"}},
		{"primary and a CIDR", []string{"primary", "10.0.0.0/8"}, addrs("192.168.1.10"), []string{"192.168.1.10/32", "10.0.0.0/8"}},
		{"primary on a node without IPs: nothing (every address)", []string{"primary"}, nil, nil},
		{"loopback primary skipped", []string{"primary"}, addrs("127.0.0.1"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range NodePortPrefixes(tt.list, tt.primary) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrimaryNodeIPs(t *testing.T) {
	n := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeExternalIP, Address: "203.0.113.5"},
		{Type: corev1.NodeInternalIP, Address: "192.168.1.10"},
		{Type: corev1.NodeInternalIP, Address: "192.168.1.11"},
		{Type: corev1.NodeExternalIP, Address: "2001:db8::5"},
	}}}
	if got, want := PrimaryNodeIPs(n), addrs("192.168.1.10", "2001:db8::5"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := PrimaryNodeIPs(nil); got != nil {
		t.Errorf("nil node: %v", got)
	}
}

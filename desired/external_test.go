package desired

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/ledger"
)

const (
	E4   = "IPVS-PROXY-EXTERNAL-IP"
	EL4  = "IPVS-PROXY-EXTERNAL-IP-LOCAL"
	LB4  = "IPVS-PROXY-LOAD-BALANCER"
	LBL4 = "IPVS-PROXY-LOAD-BALANCER-LOCAL"
	NL4  = "IPVS-PROXY-NODE-PORT-LOCAL"
	FW4  = "IPVS-PROXY-LB-FW"
	SC4  = "IPVS-PROXY-LB-SOURCE-CIDR"
	SI4  = "IPVS-PROXY-LB-SOURCE-IP"
	HC4  = "IPVS-PROXY-HEALTH-CHECK"
	V4   = "IPVS-PROXY-IPS"
	E6   = "IPVS-PROXY6-EXTERNAL-IP"
	LB6  = "IPVS-PROXY6-LOAD-BALANCER"
	V6   = "IPVS-PROXY6-IPS"
)

func extIPs(ips ...string) svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalIPs = ips }
}

func ingress(ips ...string) svcOpt {
	return func(s *corev1.Service) {
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

func ingressProxy(ip string) svcOpt {
	return func(s *corev1.Service) {
		m := corev1.LoadBalancerIPModeProxy
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip, IPMode: &m})
	}
}

func ranges(r ...string) svcOpt {
	return func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = r }
}

func hcPort(p int32) svcOpt { return func(s *corev1.Service) { s.Spec.HealthCheckNodePort = p } }

func TestForServiceExternal(t *testing.T) {
	webSlice := slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
		ep("10.244.1.5", on("node-a")), ep("10.244.2.6", on("node-b")))
	remoteOnly := slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.2.6", on("node-b")))
	hairpins := []string{H4 + " 10.244.1.5,tcp:8080,10.244.1.5"} // local endpoints only (KUBE-LOOP-BACK)
	both := []string{"10.244.1.5:8080", "10.244.2.6:8080"}
	localRS := []string{"10.244.1.5:8080"}
	nodes := addrs("192.168.1.10", "fd00:1::10")
	vips := func(ips ...string) []string {
		var out []string
		for _, ip := range ips {
			out = append(out, V4+" "+ip)
		}
		return out
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}

	tests := []struct {
		name    string
		svc     *corev1.Service
		slices  []*discoveryv1.EndpointSlice
		want    want
		wantErr string
	}{
		{
			name:   "externalIPs: a virtual server each, bound on the dummy link, EXTERNAL-IP ledger, VIPs members",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), extIPs("203.0.113.7", "203.0.113.8")),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":  {"rr", 0, both},
					"tcp 203.0.113.7:80": {"rr", 0, both},
					"tcp 203.0.113.8:80": {"rr", 0, both},
				},
				addrs: []string{"10.96.0.10", "203.0.113.7", "203.0.113.8"},
				mems: cat([]string{C4 + " 10.96.0.10,tcp:80", E4 + " 203.0.113.7,tcp:80", E4 + " 203.0.113.8,tcp:80"},
					hairpins, vips("10.96.0.10", "203.0.113.7", "203.0.113.8")),
			},
		},
		{
			name:   "an external IP that is a node address is not bound on the dummy link (nor filtered)",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), extIPs("192.168.1.10")),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":   {"rr", 0, both},
					"tcp 192.168.1.10:80": {"rr", 0, both},
				},
				addrs: []string{"10.96.0.10"},
				mems:  cat([]string{C4 + " 10.96.0.10,tcp:80", E4 + " 192.168.1.10,tcp:80"}, hairpins, vips("10.96.0.10")),
			},
		},
		{
			name:   "externalIPs of the other family are left to that family's cluster IP; a bad one is named",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), extIPs("2001:db8::7", "bogus")),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, both}},
				addrs: []string{"10.96.0.10"},
				mems:  cat([]string{C4 + " 10.96.0.10,tcp:80"}, hairpins),
			},
			wantErr: `spec.externalIPs[1] "bogus" is not an IP address`,
		},
		{
			name: "dual-stack: each family gets its own external IPs and LB IPs",
			svc: svc("default/web", "10.96.0.10,fd00::10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer),
				extIPs("2001:db8::7", "203.0.113.7"), ingress("2001:db8::9", "198.51.100.9")),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":    {"rr", 0, nil},
					"tcp 203.0.113.7:80":   {"rr", 0, nil},
					"tcp 198.51.100.9:80":  {"rr", 0, nil},
					"tcp [fd00::10]:80":    {"rr", 0, nil},
					"tcp [2001:db8::7]:80": {"rr", 0, nil},
					"tcp [2001:db8::9]:80": {"rr", 0, nil},
				},
				addrs: []string{"10.96.0.10", "203.0.113.7", "198.51.100.9", "fd00::10", "2001:db8::7", "2001:db8::9"},
				mems: []string{C4 + " 10.96.0.10,tcp:80", E4 + " 203.0.113.7,tcp:80", LB4 + " 198.51.100.9,tcp:80",
					C6 + " fd00::10,tcp:80", E6 + " 2001:db8::7,tcp:80", LB6 + " 2001:db8::9,tcp:80"},
			},
		},
		{
			name: "LoadBalancer ingress: virtual servers, LOAD-BALANCER ledger; ipMode Proxy and hostname-only ingress skipped",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer),
				ingress("198.51.100.9"), ingressProxy("198.51.100.10"), ingress("")),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":   {"rr", 0, both},
					"tcp 198.51.100.9:80": {"rr", 0, both},
				},
				addrs: []string{"10.96.0.10", "198.51.100.9"},
				mems:  cat([]string{C4 + " 10.96.0.10,tcp:80", LB4 + " 198.51.100.9,tcp:80"}, hairpins),
			},
		},
		{
			name: "allocateLoadBalancerNodePorts false (nodePort 0): LB IP but no node ports",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 0), typ(corev1.ServiceTypeLoadBalancer),
				ingress("198.51.100.9")),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":   {"rr", 0, nil},
					"tcp 198.51.100.9:80": {"rr", 0, nil},
				},
				addrs: []string{"10.96.0.10", "198.51.100.9"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", LB4 + " 198.51.100.9,tcp:80"},
			},
		},
		{
			name: "externalTrafficPolicy Local with a local endpoint: local real servers and the -LOCAL markers (no SNAT); health check port",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeLoadBalancer),
				etpLocal(), hcPort(32000), extIPs("203.0.113.7"), ingress("198.51.100.9")),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, both},
					"tcp 203.0.113.7:80":     {"rr", 0, localRS},
					"tcp 198.51.100.9:80":    {"rr", 0, localRS},
					"tcp 192.168.1.10:30080": {"rr", 0, localRS},
				},
				addrs: []string{"10.96.0.10", "203.0.113.7", "198.51.100.9"},
				mems: cat([]string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080",
					E4 + " 203.0.113.7,tcp:80", EL4 + " 203.0.113.7,tcp:80",
					LB4 + " 198.51.100.9,tcp:80", LBL4 + " 198.51.100.9,tcp:80",
					NL4 + " 192.168.1.10,tcp:30080", HC4 + " 192.168.1.10,tcp:32000"}, hairpins),
			},
		},
		{
			name: "externalTrafficPolicy Local without a local endpoint: the cluster endpoints serve (kube-proxy PR 97081), no -LOCAL markers (traffic is masqueraded), health check port stays",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeLoadBalancer),
				etpLocal(), hcPort(32000), ingress("198.51.100.9")),
			slices: []*discoveryv1.EndpointSlice{remoteOnly},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, []string{"10.244.2.6:8080"}},
					"tcp 198.51.100.9:80":    {"rr", 0, []string{"10.244.2.6:8080"}},
					"tcp 192.168.1.10:30080": {"rr", 0, []string{"10.244.2.6:8080"}},
				},
				addrs: []string{"10.96.0.10", "198.51.100.9"},
				mems: []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080", LB4 + " 198.51.100.9,tcp:80",
					HC4 + " 192.168.1.10,tcp:32000"},
			},
		},
		{
			name: "healthCheckNodePort only for LoadBalancer with externalTrafficPolicy Local",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				etpLocal(), hcPort(32000)),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, nil},
					"tcp 192.168.1.10:30080": {"rr", 0, nil},
				},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080"},
			},
		},
		{
			name: "loadBalancerSourceRanges: LB-FW and LB-SOURCE-CIDR members (masked, trimmed, per family), none for node access",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer),
				ingress("198.51.100.9"), ranges(" 203.0.113.0/24", "192.0.2.77/28", "2001:db8::/32")),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":   {"rr", 0, nil},
					"tcp 198.51.100.9:80": {"rr", 0, nil},
				},
				addrs: []string{"10.96.0.10", "198.51.100.9"},
				mems: []string{C4 + " 10.96.0.10,tcp:80", LB4 + " 198.51.100.9,tcp:80", FW4 + " 198.51.100.9,tcp:80",
					SC4 + " 198.51.100.9,tcp:80,192.0.2.64/28", SC4 + " 198.51.100.9,tcp:80,203.0.113.0/24"},
			},
		},
		{
			name: "loadBalancerSourceRanges containing the node IP: LB-SOURCE-IP lets node-local traffic in",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer),
				ingress("198.51.100.9"), ranges("192.168.1.0/24")),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":   {"rr", 0, nil},
					"tcp 198.51.100.9:80": {"rr", 0, nil},
				},
				addrs: []string{"10.96.0.10", "198.51.100.9"},
				mems: []string{C4 + " 10.96.0.10,tcp:80", LB4 + " 198.51.100.9,tcp:80", FW4 + " 198.51.100.9,tcp:80",
					SC4 + " 198.51.100.9,tcp:80,192.168.1.0/24", SI4 + " 198.51.100.9,tcp:80,198.51.100.9"},
			},
		},
		{
			name: "a 0.0.0.0/0 source range means no restriction",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer),
				ingress("198.51.100.9"), ranges("203.0.113.0/24", "0.0.0.0/0")),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":   {"rr", 0, nil},
					"tcp 198.51.100.9:80": {"rr", 0, nil},
				},
				addrs: []string{"10.96.0.10", "198.51.100.9"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", LB4 + " 198.51.100.9,tcp:80"},
			},
		},
		{
			name: "sessionAffinity carries over to external virtual servers",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80), affinity(i32(60)), extIPs("203.0.113.7")),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":  {"rr", 60, nil},
					"tcp 203.0.113.7:80": {"rr", 60, nil},
				},
				addrs: []string{"10.96.0.10", "203.0.113.7"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", E4 + " 203.0.113.7,tcp:80"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opt
			o.NodeIPs = nodes // the node's primary IPs (kube-proxy's nodeIP)
			got, err := ForService(tt.svc, tt.slices, nodes, o)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			assertState(t, got, tt.want.state())
		})
	}
}

// kube-proxy lets node-local traffic to a load balancer with source ranges
// in when a range holds its nodeIP: the Node's primary IP of the family
// (loopback without one), not any other node address.
func TestSourceRangesNodeIP(t *testing.T) {
	s := func(r string) *corev1.Service {
		return svc("default/web", "10.96.0.10", tcp("http", 80), typ(corev1.ServiceTypeLoadBalancer), ingress("198.51.100.9"), ranges(r))
	}
	primary := Options{Scheduler: "rr", NodeIPs: addrs("192.168.1.10", "fd00:1::10")}
	nodes := addrs("192.168.1.10", "192.168.1.11")
	const si = SI4 + " 198.51.100.9,tcp:80,198.51.100.9"
	for _, tt := range []struct {
		name  string
		rng   string
		opt   Options
		allow bool
	}{
		{"range holds the primary IP", "192.168.1.10/32", primary, true},
		{"range holds another NodePort address only", "192.168.1.11/32", primary, false},
		{"no Node: loopback stands in", "127.0.0.0/8", Options{Scheduler: "rr"}, true},
		{"no Node: node addresses do not count", "192.168.1.0/24", Options{Scheduler: "rr"}, false},
	} {
		got, err := ForServiceOn(s(tt.rng), nil, NodeAddrs{NodePort: nodes}, tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		if has := slices.Contains(members(got), si); has != tt.allow {
			t.Errorf("%s: LB-SOURCE-IP member present = %v, want %v:\n%s", tt.name, has, tt.allow, strings.Join(members(got), "\n"))
		}
	}
}

// The ledger recognises the external and load-balancer sets: their members
// own their virtual servers and (not being node addresses) their addresses.
func TestOwnershipExternal(t *testing.T) {
	st := want{mems: []string{
		E4 + " 203.0.113.7,tcp:80", LB4 + " 198.51.100.9,udp:53", EL4 + " 203.0.113.8,tcp:80",
		NL4 + " 192.168.1.10,tcp:30080", FW4 + " 198.51.100.10,tcp:80",
	}}.state()
	o := ledger.Read(st.Members)
	for _, k := range []string{"tcp 203.0.113.7:80", "udp 198.51.100.9:53"} {
		if !o.OwnsService(key(k)) {
			t.Errorf("OwnsService(%s) = false", k)
		}
	}
	for _, a := range []string{"203.0.113.7", "198.51.100.9"} {
		if !o.OwnsAddress(addr(a)) {
			t.Errorf("OwnsAddress(%s) = false", a)
		}
	}
	// Marker sets record nothing: only the ledger sets do.
	for _, k := range []string{"tcp 203.0.113.8:80", "tcp 192.168.1.10:30080", "tcp 198.51.100.10:80"} {
		if o.OwnsService(key(k)) {
			t.Errorf("OwnsService(%s) = true from a marker set", k)
		}
	}
	if o.OwnsAddress(addr("203.0.113.8")) {
		t.Error("OwnsAddress from a marker set")
	}
	for _, s := range AllSets() {
		if len(s.Name) > 31 {
			t.Errorf("set name %q is longer than 31 bytes", s.Name)
		}
	}
}

func TestHealthCheck(t *testing.T) {
	lb := func(opts ...svcOpt) *corev1.Service {
		return svc("default/web", "10.96.0.10", append([]svcOpt{port("http", corev1.ProtocolTCP, 80, 30080),
			typ(corev1.ServiceTypeLoadBalancer), etpLocal(), hcPort(32000)}, opts...)...)
	}
	sl := slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
		ep("10.244.1.5", on("node-a")), ep("10.244.1.6", on("node-a"), ready(false)),
		ep("10.244.1.7", on("node-a"), ready(false), terminating(true)), ep("10.244.2.6", on("node-b")))
	other := slice("default/web-def", "web", sport("https", corev1.ProtocolTCP, 8443),
		ep("10.244.1.5", on("node-a")), ep("10.244.1.8", on("node-a")))
	sl6 := slice("default/web-v6", "web", v6(), sport("http", corev1.ProtocolTCP, 8080), ep("fd00:244::5", on("node-a")))

	for _, tc := range []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		port   uint16
		local  [2]int
		ok     bool
	}{
		{"ready local endpoints, distinct addresses across slices and ports", lb(), []*discoveryv1.EndpointSlice{sl, other}, 32000, [2]int{2, 0}, true},
		{"per family", lb(), []*discoveryv1.EndpointSlice{sl, sl6}, 32000, [2]int{1, 1}, true},
		{"no local endpoint: still served (503)", lb(), nil, 32000, [2]int{}, true},
		{"externalTrafficPolicy Cluster: none", svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080),
			typ(corev1.ServiceTypeLoadBalancer), hcPort(32000)), nil, 0, [2]int{}, false},
		{"no healthCheckNodePort: none", lb(hcPort(0)), nil, 0, [2]int{}, false},
		{"another proxy's Service: none", lb(label(ProxyNameLabel, "other")), nil, 0, [2]int{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, l, ok := HealthCheck(tc.svc, tc.slices, "node-a", "")
			if p != tc.port || l != tc.local || ok != tc.ok {
				t.Errorf("HealthCheck = %d %v %v, want %d %v %v", p, l, ok, tc.port, tc.local, tc.ok)
			}
		})
	}
}

// BenchmarkForServiceLoadBalancer: one LoadBalancer Service with 4 ports,
// 2 external IPs, 2 ingress IPs, 3 source ranges, externalTrafficPolicy Local
// and 50 endpoints (half on this node), against the same Service as a plain
// NodePort one (the cost the external parts add to a fragment).
func BenchmarkForServiceLoadBalancer(b *testing.B) {
	var sopts []svcOpt
	for i := range 4 {
		sopts = append(sopts, port(fmt.Sprintf("p%d", i), corev1.ProtocolTCP, int32(80+i), int32(30080+i)))
	}
	var eps []sliceOpt
	for i := range 4 {
		eps = append(eps, sport(fmt.Sprintf("p%d", i), corev1.ProtocolTCP, int32(8080+i)))
	}
	for i := range 50 {
		node := "node-a"
		if i%2 == 1 {
			node = "node-b"
		}
		eps = append(eps, ep(fmt.Sprintf("10.244.%d.%d", i/200, i%200+1), on(node)))
	}
	sl := []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", eps...)}
	nodes := addrs("192.168.1.10", "192.168.2.10")
	plain := svc("default/web", "10.96.0.10", append(sopts, typ(corev1.ServiceTypeNodePort))...)
	lb := svc("default/web", "10.96.0.10", append(sopts, typ(corev1.ServiceTypeLoadBalancer), etpLocal(), hcPort(32000),
		extIPs("203.0.113.7", "203.0.113.8"), ingress("198.51.100.9", "198.51.100.10"),
		ranges("203.0.113.0/24", "192.0.2.0/24", "192.168.1.0/24"))...)
	for _, c := range []struct {
		name string
		svc  *corev1.Service
	}{{"NodePort", plain}, {"LoadBalancer", lb}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ForService(c.svc, sl, nodes, opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

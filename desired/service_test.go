package desired

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	C4 = "IPVS-PROXY-CLUSTER-IP"
	N4 = "IPVS-PROXY-NODE-PORT"
	H4 = "IPVS-PROXY-HAIRPIN"
	C6 = "IPVS-PROXY6-CLUSTER-IP"
	N6 = "IPVS-PROXY6-NODE-PORT"
	H6 = "IPVS-PROXY6-HAIRPIN"
)

func i32(v int32) *int32 { return &v }

var opt = Options{Scheduler: "rr", NodeName: "node-a"}

func TestForService(t *testing.T) {
	webSlice := slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
		ep("10.244.1.5", on("node-a")), ep("10.244.2.6", on("node-b")))
	// Only 10.244.1.5 is on this node (node-a), so only it gets a hairpin member.
	webMembers := []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"}
	bothRS := []string{"10.244.1.5:8080", "10.244.2.6:8080"}
	nodes := addrs("192.168.1.10", "192.168.1.11", "fd00:1::10")

	tests := []struct {
		name    string
		svc     *corev1.Service
		slices  []*discoveryv1.EndpointSlice
		nodes   []netip.Addr
		opt     *Options
		want    want
		wantErr []string // substrings of the error; nil = no error
	}{
		{
			name:   "ClusterIP: virtual server, address, ledger member, hairpin member for the local endpoint only, NAT weight 1",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, bothRS}},
				addrs: []string{"10.96.0.10"},
				mems:  webMembers,
			},
		},
		{
			name: "scheduler comes from Options",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			opt:  &Options{Scheduler: "wlc"},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"wlc", 0, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name: "spec.clusterIP alone (no clusterIPs) is used",
			svc:  svc("default/web", "", tcp("http", 80), clusterIPField("10.96.0.11")),
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.11:80": {"rr", 0, nil}},
				addrs: []string{"10.96.0.11"},
				mems:  []string{C4 + " 10.96.0.11,tcp:80"},
			},
		},
		{
			name: "IPv6 ClusterIP uses the IPv6 sets",
			svc:  svc("default/web", "fd00::10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-v6", "web", v6(), sport("http", corev1.ProtocolTCP, 8080),
				ep("fd00:244::5"))},
			want: want{
				vs:    map[string]vsWant{"tcp [fd00::10]:80": {"rr", 0, []string{"[fd00:244::5]:8080"}}},
				addrs: []string{"fd00::10"},
				mems:  []string{C6 + " fd00::10,tcp:80", H6 + " fd00:244::5,tcp:8080,fd00:244::5"},
			},
		},
		{
			name: "TCP, UDP and SCTP ports; members carry tcp/udp/sctp",
			svc: svc("kube-system/dns", "10.96.0.10",
				port("dns", corev1.ProtocolUDP, 53, 0), port("dns-tcp", corev1.ProtocolTCP, 53, 0), port("sig", corev1.ProtocolSCTP, 9999, 0)),
			slices: []*discoveryv1.EndpointSlice{slice("kube-system/dns-1", "dns",
				sport("dns", corev1.ProtocolUDP, 5353), sport("dns-tcp", corev1.ProtocolTCP, 5354), sport("sig", corev1.ProtocolSCTP, 19999),
				ep("10.244.0.2"))},
			want: want{
				vs: map[string]vsWant{
					"udp 10.96.0.10:53":    {"rr", 0, []string{"10.244.0.2:5353"}},
					"tcp 10.96.0.10:53":    {"rr", 0, []string{"10.244.0.2:5354"}},
					"sctp 10.96.0.10:9999": {"rr", 0, []string{"10.244.0.2:19999"}},
				},
				addrs: []string{"10.96.0.10"},
				mems: []string{
					C4 + " 10.96.0.10,udp:53", C4 + " 10.96.0.10,tcp:53", C4 + " 10.96.0.10,sctp:9999",
					H4 + " 10.244.0.2,udp:5353,10.244.0.2", H4 + " 10.244.0.2,tcp:5354,10.244.0.2", H4 + " 10.244.0.2,sctp:19999,10.244.0.2",
				},
			},
		},
		{
			name: "named targetPort resolves through the slice port of the same name",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80), targetPort(intstr.FromString("web"))),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("10.244.1.5"))},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
		},
		{
			name: "per-endpoint port numbers differ across slices (named targetPort)",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80), targetPort(intstr.FromString("web"))),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-a", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5")),
				slice("default/web-b", "web", sport("http", corev1.ProtocolTCP, 9090), ep("10.244.1.6")),
			},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080", "10.244.1.6:9090"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5", H4 + " 10.244.1.6,tcp:9090,10.244.1.6"},
			},
		},
		{
			name: "unnamed port: empty service port name matches nil slice port name; empty protocols are TCP",
			svc:  svc("default/web", "10.96.0.10", port("", "", 80, 0)),
			slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
				sl := slice("default/web-abc", "web", ep("10.244.1.5"))
				p := int32(8080)
				sl.Ports = []discoveryv1.EndpointPort{{Port: &p}}
				return sl
			}()},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
		},
		{
			name: "slice port of another name or protocol does not match",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-a", "web", sport("metrics", corev1.ProtocolTCP, 9100), ep("10.244.1.5")),
				slice("default/web-b", "web", sport("http", corev1.ProtocolUDP, 8080), ep("10.244.1.6")),
			},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name:   "NodePort: a virtual server per node address of the family, NODE-PORT members",
			svc:    svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  nodes,
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, bothRS},
					"tcp 192.168.1.10:30080": {"rr", 0, bothRS},
					"tcp 192.168.1.11:30080": {"rr", 0, bothRS},
				},
				addrs: []string{"10.96.0.10"},
				mems:  append([]string{N4 + " 192.168.1.10,tcp:30080", N4 + " 192.168.1.11,tcp:30080"}, webMembers...),
			},
		},
		{
			name:   "LoadBalancer gets node ports too",
			svc:    svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeLoadBalancer)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  addrs("192.168.1.10"),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, bothRS},
					"tcp 192.168.1.10:30080": {"rr", 0, bothRS},
				},
				addrs: []string{"10.96.0.10"},
				mems:  append([]string{N4 + " 192.168.1.10,tcp:30080"}, webMembers...),
			},
		},
		{
			name:   "LoadBalancer with nodePort 0 (allocateLoadBalancerNodePorts false) gets only ClusterIP",
			svc:    svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 0), typ(corev1.ServiceTypeLoadBalancer)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  nodes,
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, bothRS}},
				addrs: []string{"10.96.0.10"},
				mems:  webMembers,
			},
		},
		{
			name:   "ClusterIP Service with a stray nodePort gets no node ports",
			svc:    svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  nodes,
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, bothRS}},
				addrs: []string{"10.96.0.10"},
				mems:  webMembers,
			},
		},
		{
			name: "NodePort without node addresses: only ClusterIP",
			svc:  svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort)),
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name: "IPv6 slices are ignored for an IPv4 Service (and IPv4 ones for IPv6)",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-v6", "web", v6(), sport("http", corev1.ProtocolTCP, 8080), ep("fd00:244::5")),
				slice("default/web-v4", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5")),
			},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
		},
		{
			name: "IPv4-mapped IPv6 address in an IPv6 slice is not an IPv6 real server",
			svc:  svc("default/web", "fd00::10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-v6", "web", v6(), sport("http", corev1.ProtocolTCP, 8080), ep("::ffff:10.244.1.5"), ep("fd00:244::5")),
			},
			want: want{
				vs:    map[string]vsWant{"tcp [fd00::10]:80": {"rr", 0, []string{"[fd00:244::5]:8080"}}},
				addrs: []string{"fd00::10"},
				mems:  []string{C6 + " fd00::10,tcp:80", H6 + " fd00:244::5,tcp:8080,fd00:244::5"},
			},
		},
		{
			name: "dual-stack NodePort Service gets both families",
			svc: svc("default/web", "10.96.0.10,fd00::10", port("http", corev1.ProtocolTCP, 80, 30080),
				typ(corev1.ServiceTypeNodePort)),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-v4", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5")),
				slice("default/web-v6", "web", v6(), sport("http", corev1.ProtocolTCP, 8080), ep("fd00:244::5")),
			},
			nodes: addrs("192.168.1.10", "fd00:1::10"),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, []string{"10.244.1.5:8080"}},
					"tcp 192.168.1.10:30080": {"rr", 0, []string{"10.244.1.5:8080"}},
					"tcp [fd00::10]:80":      {"rr", 0, []string{"[fd00:244::5]:8080"}},
					"tcp [fd00:1::10]:30080": {"rr", 0, []string{"[fd00:244::5]:8080"}},
				},
				addrs: []string{"10.96.0.10", "fd00::10"},
				mems: []string{
					C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080", H4 + " 10.244.1.5,tcp:8080,10.244.1.5",
					C6 + " fd00::10,tcp:80", N6 + " fd00:1::10,tcp:30080", H6 + " fd00:244::5,tcp:8080,fd00:244::5",
				},
			},
		},
		{
			name: "Ready nil counts as ready; not-ready non-terminating never used",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("10.244.1.5"), ep("10.244.1.6", ready(true)), ep("10.244.1.7", ready(false)))},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080", "10.244.1.6:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5", H4 + " 10.244.1.6,tcp:8080,10.244.1.6"},
			},
		},
		{
			name: "terminating endpoints are not used while some endpoint is ready",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("10.244.1.5", terminating(true)), ep("10.244.1.6"))},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.6:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.6,tcp:8080,10.244.1.6"},
			},
		},
		{
			name: "no ready endpoint: the serving-and-terminating ones (not the non-serving ones)",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("10.244.1.5", terminating(true)), ep("10.244.1.6", terminating(false)), ep("10.244.1.7", ready(false)))},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
		},
		{
			name: "only not-ready non-terminating endpoints: no real servers",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("10.244.1.5", ready(false)), ep("10.244.1.6", func(e *discoveryv1.Endpoint) {
					e.Conditions = discoveryv1.EndpointConditions{Ready: bp(false), Serving: bp(true)}
				}))},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name: "endpoints are deduplicated across slices",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-a", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"), ep("10.244.1.5")),
				slice("default/web-b", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5")),
			},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
		},
		{
			name:  "a Service without endpoints still gets its virtual servers",
			svc:   svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort)),
			nodes: addrs("192.168.1.10"),
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
			name: "sessionAffinity ClientIP defaults to 10800 s, on ClusterIP and NodePort",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				affinity(nil)),
			nodes: addrs("192.168.1.10"),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 10800, nil},
					"tcp 192.168.1.10:30080": {"rr", 10800, nil},
				},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080"},
			},
		},
		{
			name: "sessionAffinity ClientIP with timeoutSeconds",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80), affinity(i32(600))),
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 600, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name: "sessionAffinity ClientIP with a config but no timeout: default",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), affinity(nil), func(s *corev1.Service) {
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{}}
			}),
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 10800, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name:   "headless Service gets nothing",
			svc:    svc("default/web", "None", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
		},
		{
			name:   "ExternalName Service gets nothing",
			svc:    svc("default/web", "", tcp("http", 80), typ(corev1.ServiceTypeExternalName)),
			slices: []*discoveryv1.EndpointSlice{webSlice},
		},
		{
			name: "ExternalName Service with a stale clusterIP gets nothing",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80), typ(corev1.ServiceTypeExternalName)),
		},
		{
			name: "Service labelled service-proxy-name gets nothing",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				label(ProxyNameLabel, "other-proxy")),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  nodes,
		},
		{
			name: "internalTrafficPolicy Local: ClusterIP gets local endpoints only, NodePort all",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				itpLocal()),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  addrs("192.168.1.10"),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, []string{"10.244.1.5:8080"}},
					"tcp 192.168.1.10:30080": {"rr", 0, bothRS},
				},
				addrs: []string{"10.96.0.10"},
				mems:  append([]string{N4 + " 192.168.1.10,tcp:30080"}, webMembers...),
			},
		},
		{
			name: "externalTrafficPolicy Local: NodePort gets local endpoints only, ClusterIP all",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeLoadBalancer),
				etpLocal()),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  addrs("192.168.1.10"),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, bothRS},
					"tcp 192.168.1.10:30080": {"rr", 0, []string{"10.244.1.5:8080"}},
				},
				addrs: []string{"10.96.0.10"},
				mems:  append([]string{N4 + " 192.168.1.10,tcp:30080", NL4 + " 192.168.1.10,tcp:30080"}, webMembers...),
			},
		},
		{
			// issue #9 items 1 and 2: kube-proxy (syncEndpoint, PR 97081;
			// CategorizeEndpoints) gives a Local virtual server the cluster
			// endpoints when none is local, as long as the port uses Cluster
			// endpoints at all (it is reachable from outside).
			name: "Local policies on a NodePort Service with no local endpoint: both fall back to the cluster endpoints",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				itpLocal(), etpLocal()),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  addrs("192.168.1.10"),
			opt:    &Options{Scheduler: "rr", NodeName: "node-z"},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, bothRS},
					"tcp 192.168.1.10:30080": {"rr", 0, bothRS},
				},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080"},
			},
		},
		{
			name: "externalTrafficPolicy Local with no local endpoint: NodePort falls back to the cluster endpoints",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeLoadBalancer),
				etpLocal()),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			nodes:  addrs("192.168.1.10"),
			opt:    &Options{Scheduler: "rr", NodeName: "node-z"},
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, bothRS},
					"tcp 192.168.1.10:30080": {"rr", 0, bothRS},
				},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080"},
			},
		},
		{
			name:   "internalTrafficPolicy Local on a ClusterIP-only Service with no local endpoint: no real servers",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), itpLocal()),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			opt:    &Options{Scheduler: "rr", NodeName: "node-z"},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name: "internalTrafficPolicy Local with externalIPs of the other family only: no fallback",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), itpLocal(), func(s *corev1.Service) {
				s.Spec.ExternalIPs = []string{"fd00:ff::1"} // other family: not externally accessible for IPv4
			}),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			opt:    &Options{Scheduler: "rr", NodeName: "node-z"},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, nil}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80"},
			},
		},
		{
			name: "internalTrafficPolicy Local with an externalIP of the family: cluster fallback",
			svc: svc("default/web", "10.96.0.10", tcp("http", 80), itpLocal(), func(s *corev1.Service) {
				s.Spec.ExternalIPs = []string{"203.0.113.7"}
			}),
			slices: []*discoveryv1.EndpointSlice{webSlice},
			opt:    &Options{Scheduler: "rr", NodeName: "node-z"},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, bothRS}, "tcp 203.0.113.7:80": {"rr", 0, bothRS}},
				addrs: []string{"10.96.0.10", "203.0.113.7"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", "IPVS-PROXY-EXTERNAL-IP 203.0.113.7,tcp:80"},
			},
		},
		{
			// kube-proxy (CategorizeEndpoints) falls back to the local
			// serving-and-terminating endpoints when no local one is ready,
			// even if remote endpoints are ready.
			name: "Local policy: no local ready endpoint falls back to local serving-terminating ones",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				itpLocal(), etpLocal()),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("10.244.1.5", on("node-a"), terminating(true)), ep("10.244.1.8", on("node-a"), terminating(false)),
				ep("10.244.2.6", on("node-b")))},
			nodes: addrs("192.168.1.10"),
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, []string{"10.244.1.5:8080"}},
					"tcp 192.168.1.10:30080": {"rr", 0, []string{"10.244.1.5:8080"}},
				},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080", NL4 + " 192.168.1.10,tcp:30080", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
		},
		{
			name:    "nodePort 99999: ObjectError, empty state",
			svc:     svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 99999), typ(corev1.ServiceTypeNodePort)),
			slices:  []*discoveryv1.EndpointSlice{webSlice},
			nodes:   nodes,
			wantErr: []string{"Service default/web", "99999"},
		},
		{
			name:    "port 0: ObjectError, empty state",
			svc:     svc("default/web", "10.96.0.10", tcp("http", 0)),
			wantErr: []string{"Service default/web", "port"},
		},
		{
			name:    "unsupported protocol: ObjectError, empty state",
			svc:     svc("default/web", "10.96.0.10", port("x", "ICMP", 80, 0)),
			wantErr: []string{"Service default/web", "ICMP"},
		},
		{
			name:    "clusterIP not-an-ip: ObjectError, empty state",
			svc:     svc("default/web", "not-an-ip", tcp("http", 80)),
			slices:  []*discoveryv1.EndpointSlice{webSlice},
			wantErr: []string{"Service default/web", "not-an-ip"},
		},
		{
			name:    "two clusterIPs of one family: ObjectError",
			svc:     svc("default/web", "10.96.0.10,10.96.0.11", tcp("http", 80)),
			wantErr: []string{"Service default/web"},
		},
		{
			name:    "no clusterIP yet: ObjectError",
			svc:     svc("default/web", "", tcp("http", 80)),
			wantErr: []string{"Service default/web"},
		},
		{
			name: "endpoint address bogus: ObjectError naming the EndpointSlice, the rest planned",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-abc", "web", sport("http", corev1.ProtocolTCP, 8080),
				ep("bogus"), ep("10.244.1.5"))},
			want: want{
				vs:    map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, []string{"10.244.1.5:8080"}}},
				addrs: []string{"10.96.0.10"},
				mems:  []string{C4 + " 10.96.0.10,tcp:80", H4 + " 10.244.1.5,tcp:8080,10.244.1.5"},
			},
			wantErr: []string{"Service default/web", "EndpointSlice default/web-abc", `"bogus"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opt
			if tt.opt != nil {
				o = *tt.opt
			}
			got, err := ForService(tt.svc, tt.slices, tt.nodes, o)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else {
				if err == nil {
					t.Fatalf("want an error containing %q, got none", tt.wantErr)
				}
				var oe *ObjectError
				if !errors.As(err, &oe) {
					t.Fatalf("error %v (%T) is not an *ObjectError", err, err)
				}
				if oe.Object != "Service "+tt.svc.Namespace+"/"+tt.svc.Name {
					t.Errorf("ObjectError.Object = %q", oe.Object)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
			}
			assertState(t, got, tt.want.state())
		})
	}
}

// ForService must not retain or modify its inputs, and must be deterministic.
func TestForServiceDeterministic(t *testing.T) {
	s := svc("default/web", "10.96.0.10,fd00::10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort))
	sls := []*discoveryv1.EndpointSlice{
		slice("default/a", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"), ep("10.244.1.6"), ep("bogus")),
		slice("default/b", "web", v6(), sport("http", corev1.ProtocolTCP, 8080), ep("fd00:244::5"), ep("fe80::1%eth0")),
	}
	nodes := addrs("192.168.1.10", "fd00:1::10")
	a, errA := ForService(s, sls, nodes, opt)
	for range 5 {
		b, errB := ForService(s, sls, nodes, opt)
		if !equalStates(a, b) {
			t.Fatalf("not deterministic:\n%s\n---\n%s", dump(a), dump(b))
		}
		if errA.Error() != errB.Error() {
			t.Fatalf("error not deterministic: %v vs %v", errA, errB)
		}
	}
	for _, want := range []string{"EndpointSlice default/a", "EndpointSlice default/b", "bogus", "fe80::1%eth0"} {
		if !strings.Contains(errA.Error(), want) {
			t.Errorf("error %q does not mention %q", errA, want)
		}
	}
}

package desired

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func zones(z ...string) epOpt {
	return func(e *discoveryv1.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discoveryv1.EndpointHints{}
		}
		for _, n := range z {
			e.Hints.ForZones = append(e.Hints.ForZones, discoveryv1.ForZone{Name: n})
		}
	}
}

func forNodes(n ...string) epOpt {
	return func(e *discoveryv1.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discoveryv1.EndpointHints{}
		}
		for _, x := range n {
			e.Hints.ForNodes = append(e.Hints.ForNodes, discoveryv1.ForNode{Name: x})
		}
	}
}

// issue #9 item 12: hints decide as kube-proxy's CategorizeEndpoints and
// topologyModeFromHints do. The node is node-a in zone-a.
func TestForServiceTopology(t *testing.T) {
	o := Options{Scheduler: "rr", NodeName: testNode, Zone: "zone-a"}
	noZone := Options{Scheduler: "rr", NodeName: testNode}
	web := svc("default/web", "10.96.0.10", tcp("http", 80), func(s *corev1.Service) {
		d := corev1.ServiceTrafficDistributionPreferSameZone
		s.Spec.TrafficDistribution = &d
	})
	base := []string{"10.96.0.10"}
	runForService(t, []forServiceCase{
		{
			name:   "zone hints for this zone: only those endpoints",
			svc:    web,
			slices: webSlices(ep("10.244.1.5", on("node-b"), zones("zone-a")), ep("10.244.2.6", on("node-c"), zones("zone-b"))),
			opt:    &o,
			want:   want{vs: one("10.244.1.5:8080"), addrs: base, mems: cip},
		},
		{
			name:   "one ready endpoint without a zone hint: hints ignored",
			svc:    web,
			slices: webSlices(ep("10.244.1.5", on("node-b"), zones("zone-a")), ep("10.244.2.6", on("node-c"))),
			opt:    &o,
			want:   want{vs: one("10.244.1.5:8080", "10.244.2.6:8080"), addrs: base, mems: cip},
		},
		{
			name: "a not-ready endpoint without a hint does not disable hints",
			svc:  web,
			slices: webSlices(ep("10.244.1.5", on("node-b"), zones("zone-a")), ep("10.244.2.6", on("node-c"), zones("zone-b")),
				ep("10.244.3.7", on("node-c"), ready(false))),
			opt:  &o,
			want: want{vs: one("10.244.1.5:8080"), addrs: base, mems: cip},
		},
		{
			name:   "no endpoint hinted for this zone: hints ignored",
			svc:    web,
			slices: webSlices(ep("10.244.1.5", on("node-b"), zones("zone-b")), ep("10.244.2.6", on("node-c"), zones("zone-c"))),
			opt:    &o,
			want:   want{vs: one("10.244.1.5:8080", "10.244.2.6:8080"), addrs: base, mems: cip},
		},
		{
			name:   "node without a zone label: zone hints ignored",
			svc:    web,
			slices: webSlices(ep("10.244.1.5", on("node-b"), zones("zone-a")), ep("10.244.2.6", on("node-c"), zones("zone-b"))),
			opt:    &noZone,
			want:   want{vs: one("10.244.1.5:8080", "10.244.2.6:8080"), addrs: base, mems: cip},
		},
		{
			name: "node hints (PreferSameNode) win over zone hints when every ready endpoint has one",
			svc:  web,
			slices: webSlices(ep("10.244.1.5", forNodes(testNode), zones("zone-a")), ep("10.244.1.6", on("node-b"), forNodes("node-b"), zones("zone-a")),
				ep("10.244.2.6", on("node-c"), forNodes("node-c"), zones("zone-b"))),
			opt:  &o,
			want: want{vs: one("10.244.1.5:8080"), addrs: base, mems: append([]string{hp("10.244.1.5")}, cip...)},
		},
		{
			name: "node hints for another node only: fall back to zone hints",
			svc:  web,
			slices: webSlices(ep("10.244.1.6", on("node-b"), forNodes("node-b"), zones("zone-a")),
				ep("10.244.2.6", on("node-c"), forNodes("node-c"), zones("zone-b"))),
			opt:  &o,
			want: want{vs: one("10.244.1.6:8080"), addrs: base, mems: cip},
		},
		{
			name: "no ready endpoint: hints ignored, serving-terminating fallback cluster-wide",
			svc:  web,
			slices: webSlices(ep("10.244.1.6", on("node-b"), zones("zone-a"), terminating(true)),
				ep("10.244.2.6", on("node-c"), zones("zone-b"), terminating(true))),
			opt:  &o,
			want: want{vs: one("10.244.1.6:8080", "10.244.2.6:8080"), addrs: base, mems: cip},
		},
		{
			name: "internalTrafficPolicy Local ignores hints: local endpoints",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80), itpLocal()),
			slices: webSlices(ep("10.244.1.5", zones("zone-b")), ep("10.244.1.6", on("node-b"), zones("zone-a")),
				ep("10.244.2.6", on("node-c"), zones("zone-b"))),
			opt:  &o,
			want: want{vs: one("10.244.1.5:8080"), addrs: base, mems: append([]string{hp("10.244.1.5")}, cip...)},
		},
		{
			name: "externalTrafficPolicy Local: NodePort gets local endpoints, ClusterIP the hinted ones",
			svc: svc("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort),
				etpLocal()),
			slices: webSlices(ep("10.244.1.5", zones("zone-b")), ep("10.244.1.6", on("node-b"), zones("zone-a")),
				ep("10.244.2.6", on("node-c"), zones("zone-b"))),
			nodes: addrs("192.168.1.10"),
			opt:   &o,
			want: want{
				vs: map[string]vsWant{
					"tcp 10.96.0.10:80":      {"rr", 0, []string{"10.244.1.6:8080"}},
					"tcp 192.168.1.10:30080": {"rr", 0, []string{"10.244.1.5:8080"}},
				},
				addrs: base,
				mems:  []string{C4 + " 10.96.0.10,tcp:80", N4 + " 192.168.1.10,tcp:30080", "IPVS-PROXY-NODE-PORT-LOCAL 192.168.1.10,tcp:30080", hp("10.244.1.5")},
			},
		},
	})
}

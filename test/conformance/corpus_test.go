package conformance

import (
	"fmt"
	"strings"
)

// The corpus: Service shapes, each a Service with its EndpointSlices (and
// a load-balancer status), one row of issue #9 or of README "Semantics"
// each. Cluster IPs and node ports are fixed (10.96.200.N, fd00:10:96::c8NN (hex),
// 31000+10N+k) so failures read the same on every run.
//
// Endpoints: 10.244.0.x / fd00:10:244::x are on this node ("conf-node"),
// 10.244.1.x / fd00:10:244:1::x on another ("other-node").

// shape is one corpus entry.
type shape struct {
	name   string
	docs   []string // Service and EndpointSlices
	status string   // Service status (merge patch, JSON), or ""
}

// ep is one endpoint of a slice.
type ep struct {
	ip          string
	node        string // "" = this node, "-" = no nodeName
	zone        string // "" = zone-a
	ready       string // "true", "false" or "" (omitted)
	serving     string
	terminating string
	hints       string // YAML flow, e.g. {forZones: [{name: zone-a}]}
}

func local(ip string) ep  { return ep{ip: ip, ready: "true"} }
func remote(ip string) ep { return ep{ip: ip, node: "other-node", zone: "zone-b", ready: "true"} }

// terminating is a serving, terminating endpoint (not ready).
func terminating(e ep) ep { e.ready, e.serving, e.terminating = "false", "true", "true"; return e }

func hinted(e ep, h string) ep { e.hints = h; return e }

// svcYAML is a Service; spec is indented by two spaces, labels is a YAML
// flow map or "".
func svcYAML(name, labels, spec string) string {
	if labels == "" {
		labels = "{}"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
  labels: %s
spec:
%s`, name, namespace, labels, spec)
}

// sliceYAML is an EndpointSlice of service; ports are "name:port:proto".
func sliceYAML(name, service, family string, ports []string, eps ...ep) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s
  namespace: %s
  labels:
    kubernetes.io/service-name: %s
addressType: %s
ports:
`, name, namespace, service, family)
	for _, p := range ports {
		f := strings.Split(p, ":")
		fmt.Fprintf(&b, "- name: %q\n  port: %s\n  protocol: %s\n", f[0], f[1], f[2])
	}
	if len(eps) == 0 {
		b.WriteString("endpoints: []\n")
		return b.String()
	}
	b.WriteString("endpoints:\n")
	for _, e := range eps {
		fmt.Fprintf(&b, "- addresses: [%q]\n  zone: %s\n", e.ip, or(e.zone, zone))
		if e.node != "-" {
			fmt.Fprintf(&b, "  nodeName: %s\n", or(e.node, node))
		}
		b.WriteString("  conditions: {")
		var c []string
		for _, kv := range [][2]string{{"ready", e.ready}, {"serving", e.serving}, {"terminating", e.terminating}} {
			if kv[1] != "" {
				c = append(c, kv[0]+": "+kv[1])
			}
		}
		b.WriteString(strings.Join(c, ", ") + "}\n")
		if e.hints != "" {
			fmt.Fprintf(&b, "  hints: %s\n", e.hints)
		}
	}
	return b.String()
}

// cip is the IPv4 cluster IP of corpus row n; cip6 the IPv6 one.
func cip(n int) string  { return fmt.Sprintf("10.96.200.%d", n) }
func cip6(n int) string { return fmt.Sprintf("fd00:10:96::c8%02x", n) }

// np is node port k of row n.
func np(n, k int) int { return 31000 + 10*n + k }

// lbStatus is a load-balancer status patch with these ingress entries
// (YAML-ish JSON objects).
func lbStatus(ingress ...string) string {
	return `{"status":{"loadBalancer":{"ingress":[` + strings.Join(ingress, ",") + `]}}}`
}

const (
	web   = "http:8080:TCP"
	dns   = "dns:5353:UDP"
	sctp  = "sctp:9999:SCTP"
	https = "https:8443:TCP"
)

// corpus returns the shapes of the first phase.
func corpus() []shape {
	var out []shape
	n := 0
	add := func(name, labels, spec, status string, slices ...string) {
		out = append(out, shape{name: name, docs: append([]string{svcYAML(name, labels, spec)}, slices...), status: status})
	}
	// clusterIP spec head for row n with ports (YAML list items).
	head := func(typ string, ports ...string) string {
		s := fmt.Sprintf("  type: %s\n  clusterIP: %s\n  clusterIPs: [%s]\n  ports:\n", typ, cip(n), cip(n))
		for _, p := range ports {
			s += p
		}
		return s
	}
	port := func(name string, p int, proto, target string, nodePort int) string {
		s := fmt.Sprintf("  - name: %q\n    port: %d\n    protocol: %s\n    targetPort: %s\n", name, p, proto, target)
		if nodePort != 0 {
			s += fmt.Sprintf("    nodePort: %d\n", nodePort)
		}
		return s
	}
	http := func(nodePort int) string { return port("http", 80, "TCP", "8080", nodePort) }
	v4 := "IPv4"
	next := func() int { n++; return n }

	// ClusterIP
	next()
	add("cip-basic", "", head("ClusterIP", http(0)), "",
		sliceYAML("cip-basic-1", "cip-basic", v4, []string{web}, local("10.244.0.10"), remote("10.244.1.10")))
	next()
	add("cip-no-endpoints", "", head("ClusterIP", http(0)), "")
	next()
	add("cip-udp", "", head("ClusterIP", port("dns", 53, "UDP", "5353", 0)), "",
		sliceYAML("cip-udp-1", "cip-udp", v4, []string{dns}, local("10.244.0.11"), remote("10.244.1.11")))
	next()
	add("cip-sctp", "", head("ClusterIP", port("sctp", 9999, "SCTP", "9999", 0)), "",
		sliceYAML("cip-sctp-1", "cip-sctp", v4, []string{sctp}, remote("10.244.1.12")))
	next()
	add("cip-multiport", "", head("ClusterIP", http(0), port("https", 443, "TCP", "8443", 0), port("dns", 53, "UDP", "5353", 0)), "",
		sliceYAML("cip-multiport-1", "cip-multiport", v4, []string{web, https, dns}, local("10.244.0.13"), remote("10.244.1.13")))
	next()
	add("cip-named-target", "", head("ClusterIP", port("http", 80, "TCP", "web", 0), port("admin", 9000, "TCP", "admin", 0)), "",
		sliceYAML("cip-named-target-1", "cip-named-target", v4, []string{"http:8081:TCP", "admin:9001:TCP"}, remote("10.244.1.14"), remote("10.244.1.15")),
		sliceYAML("cip-named-target-2", "cip-named-target", v4, []string{"http:8082:TCP"}, local("10.244.0.14")))
	next()
	add("cip-affinity", "", head("ClusterIP", http(0))+"  sessionAffinity: ClientIP\n", "",
		sliceYAML("cip-affinity-1", "cip-affinity", v4, []string{web}, remote("10.244.1.16")))
	next()
	add("cip-affinity-timeout", "", head("ClusterIP", http(0))+"  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n", "",
		sliceYAML("cip-affinity-timeout-1", "cip-affinity-timeout", v4, []string{web}, remote("10.244.1.17")))
	next()
	add("cip-itp-local", "", head("ClusterIP", http(0))+"  internalTrafficPolicy: Local\n", "",
		sliceYAML("cip-itp-local-1", "cip-itp-local", v4, []string{web}, local("10.244.0.18"), remote("10.244.1.18")))
	next()
	add("cip-itp-local-none", "", head("ClusterIP", http(0))+"  internalTrafficPolicy: Local\n", "",
		sliceYAML("cip-itp-local-none-1", "cip-itp-local-none", v4, []string{web}, remote("10.244.1.19")))
	// NodePort
	next()
	add("np-basic", "", head("NodePort", http(np(n, 0))), "",
		sliceYAML("np-basic-1", "np-basic", v4, []string{web}, local("10.244.0.20"), remote("10.244.1.20")))
	next()
	add("np-etp-local", "", head("NodePort", http(np(n, 0)))+"  externalTrafficPolicy: Local\n", "",
		sliceYAML("np-etp-local-1", "np-etp-local", v4, []string{web}, local("10.244.0.21"), remote("10.244.1.21")))
	next()
	add("np-etp-local-none", "", head("NodePort", http(np(n, 0)))+"  externalTrafficPolicy: Local\n", "",
		sliceYAML("np-etp-local-none-1", "np-etp-local-none", v4, []string{web}, remote("10.244.1.22")))
	next()
	add("np-itp-local-none", "", head("NodePort", http(np(n, 0)))+"  internalTrafficPolicy: Local\n", "",
		sliceYAML("np-itp-local-none-1", "np-itp-local-none", v4, []string{web}, remote("10.244.1.23")))
	next()
	add("np-both-local", "", head("NodePort", http(np(n, 0)))+"  internalTrafficPolicy: Local\n  externalTrafficPolicy: Local\n", "",
		sliceYAML("np-both-local-1", "np-both-local", v4, []string{web}, local("10.244.0.24"), remote("10.244.1.24")))
	next()
	add("np-udp", "", head("NodePort", port("dns", 53, "UDP", "5353", np(n, 0))), "",
		sliceYAML("np-udp-1", "np-udp", v4, []string{dns}, remote("10.244.1.25")))
	next()
	add("np-sctp", "", head("NodePort", port("sctp", 9999, "SCTP", "9999", np(n, 0))), "",
		sliceYAML("np-sctp-1", "np-sctp", v4, []string{sctp}, local("10.244.0.26")))
	next()
	add("np-multiport", "", head("NodePort", port("http", 80, "TCP", "web", np(n, 0)), port("dns", 53, "UDP", "dns", np(n, 1))), "",
		sliceYAML("np-multiport-1", "np-multiport", v4, []string{"http:8080:TCP", "dns:5353:UDP"}, local("10.244.0.27"), remote("10.244.1.27")))
	next()
	add("np-affinity-etp-local", "", head("NodePort", http(np(n, 0)))+"  externalTrafficPolicy: Local\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n", "",
		sliceYAML("np-affinity-etp-local-1", "np-affinity-etp-local", v4, []string{web}, local("10.244.0.28")))
	// LoadBalancer
	next()
	add("lb-basic", "", head("LoadBalancer", http(np(n, 0))), lbStatus(`{"ip":"192.168.100.30"}`),
		sliceYAML("lb-basic-1", "lb-basic", v4, []string{web}, local("10.244.0.30"), remote("10.244.1.30")))
	next()
	add("lb-two-ips", "", head("LoadBalancer", http(np(n, 0))), lbStatus(`{"ip":"192.168.100.31"}`, `{"ip":"192.168.100.131"}`, `{"hostname":"lb.example.com"}`),
		sliceYAML("lb-two-ips-1", "lb-two-ips", v4, []string{web}, remote("10.244.1.31")))
	next()
	add("lb-ipmode-proxy", "", head("LoadBalancer", http(np(n, 0))), lbStatus(`{"ip":"192.168.100.32","ipMode":"Proxy"}`, `{"ip":"192.168.100.132","ipMode":"VIP"}`),
		sliceYAML("lb-ipmode-proxy-1", "lb-ipmode-proxy", v4, []string{web}, remote("10.244.1.32")))
	next()
	add("lb-source-ranges", "", head("LoadBalancer", http(np(n, 0)))+"  loadBalancerSourceRanges: [10.0.0.0/8, 192.168.70.0/24]\n", lbStatus(`{"ip":"192.168.100.33"}`),
		sliceYAML("lb-source-ranges-1", "lb-source-ranges", v4, []string{web}, remote("10.244.1.33")))
	next()
	add("lb-source-ranges-off-node", "", head("LoadBalancer", http(np(n, 0)))+"  loadBalancerSourceRanges: [10.0.0.0/8]\n", lbStatus(`{"ip":"192.168.100.34"}`),
		sliceYAML("lb-source-ranges-off-node-1", "lb-source-ranges-off-node", v4, []string{web}, remote("10.244.1.34")))
	next()
	add("lb-no-node-ports", "", head("LoadBalancer", http(0))+"  allocateLoadBalancerNodePorts: false\n", lbStatus(`{"ip":"192.168.100.35"}`),
		sliceYAML("lb-no-node-ports-1", "lb-no-node-ports", v4, []string{web}, remote("10.244.1.35")))
	next()
	add("lb-etp-local", "", head("LoadBalancer", http(np(n, 0)))+fmt.Sprintf("  externalTrafficPolicy: Local\n  healthCheckNodePort: %d\n", np(n, 9)), lbStatus(`{"ip":"192.168.100.36"}`),
		sliceYAML("lb-etp-local-1", "lb-etp-local", v4, []string{web}, local("10.244.0.36"), remote("10.244.1.36")))
	next()
	add("lb-etp-local-none", "", head("LoadBalancer", http(np(n, 0)))+fmt.Sprintf("  externalTrafficPolicy: Local\n  healthCheckNodePort: %d\n", np(n, 9)), lbStatus(`{"ip":"192.168.100.37"}`),
		sliceYAML("lb-etp-local-none-1", "lb-etp-local-none", v4, []string{web}, remote("10.244.1.37")))
	next()
	add("lb-udp-affinity", "", head("LoadBalancer", port("dns", 53, "UDP", "5353", np(n, 0)))+"  sessionAffinity: ClientIP\n", lbStatus(`{"ip":"192.168.100.38"}`),
		sliceYAML("lb-udp-affinity-1", "lb-udp-affinity", v4, []string{dns}, local("10.244.0.38")))
	// externalIPs
	next()
	add("ext-ips", "", head("ClusterIP", http(0))+"  externalIPs: [192.168.110.40, 192.168.70.3]\n", "",
		sliceYAML("ext-ips-1", "ext-ips", v4, []string{web}, local("10.244.0.40"), remote("10.244.1.40")))
	next()
	add("ext-ips-etp-local", "", head("NodePort", http(np(n, 0)))+"  externalIPs: [192.168.110.41]\n  externalTrafficPolicy: Local\n", "",
		sliceYAML("ext-ips-etp-local-1", "ext-ips-etp-local", v4, []string{web}, local("10.244.0.41"), remote("10.244.1.41")))
	next()
	add("ext-ips-etp-local-none", "", head("NodePort", http(np(n, 0)))+"  externalIPs: [192.168.110.42]\n  externalTrafficPolicy: Local\n", "",
		sliceYAML("ext-ips-etp-local-none-1", "ext-ips-etp-local-none", v4, []string{web}, remote("10.244.1.42")))
	// Endpoint conditions
	next()
	add("ep-terminating-only", "", head("ClusterIP", http(0)), "",
		sliceYAML("ep-terminating-only-1", "ep-terminating-only", v4, []string{web}, terminating(local("10.244.0.43")), terminating(remote("10.244.1.43"))))
	next()
	add("ep-terminating-mixed", "", head("ClusterIP", http(0)), "",
		sliceYAML("ep-terminating-mixed-1", "ep-terminating-mixed", v4, []string{web}, local("10.244.0.44"), terminating(remote("10.244.1.44"))))
	next()
	add("ep-not-serving", "", head("ClusterIP", http(0)), "",
		sliceYAML("ep-not-serving-1", "ep-not-serving", v4, []string{web},
			ep{ip: "10.244.1.45", node: "other-node", ready: "false", serving: "false", terminating: "true"},
			ep{ip: "10.244.1.145", node: "other-node", ready: "false"}))
	next()
	add("ep-serving-nil", "", head("ClusterIP", http(0)), "",
		sliceYAML("ep-serving-nil-1", "ep-serving-nil", v4, []string{web},
			ep{ip: "10.244.1.46", node: "other-node", ready: "false", terminating: "true"},
			ep{ip: "10.244.1.146", node: "other-node", ready: "true", terminating: "false"}))
	next()
	add("ep-duplicate", "", head("ClusterIP", http(0)), "",
		sliceYAML("ep-duplicate-a", "ep-duplicate", v4, []string{web}, terminating(remote("10.244.1.47")), remote("10.244.1.147")),
		sliceYAML("ep-duplicate-b", "ep-duplicate", v4, []string{web}, remote("10.244.1.47")))
	next()
	add("ep-no-node-name", "", head("NodePort", http(np(n, 0)))+"  externalTrafficPolicy: Local\n", "",
		sliceYAML("ep-no-node-name-1", "ep-no-node-name", v4, []string{web}, ep{ip: "10.244.1.48", node: "-", ready: "true"}, local("10.244.0.48")))
	next()
	add("ep-port-missing", "", head("ClusterIP", http(0), port("metrics", 9090, "TCP", "9090", 0)), "",
		sliceYAML("ep-port-missing-1", "ep-port-missing", v4, []string{"metrics:9090:TCP"}, remote("10.244.1.49")))
	next()
	eps := []ep{}
	for i := 0; i < 8; i++ {
		eps = append(eps, remote(fmt.Sprintf("10.244.1.%d", 150+i)))
	}
	add("ep-many", "", head("NodePort", http(np(n, 0))), "",
		sliceYAML("ep-many-1", "ep-many", v4, []string{web}, eps[:5]...),
		sliceYAML("ep-many-2", "ep-many", v4, []string{web}, append(eps[5:], local("10.244.0.50"))...))
	// Topology
	za, zb := "{forZones: [{name: zone-a}]}", "{forZones: [{name: zone-b}]}"
	next()
	add("topo-zone-hints", "", head("ClusterIP", http(0)), "",
		sliceYAML("topo-zone-hints-1", "topo-zone-hints", v4, []string{web},
			hinted(remote("10.244.1.51"), za), hinted(remote("10.244.1.151"), zb), hinted(local("10.244.0.51"), za)))
	next()
	add("topo-zone-hint-missing", "", head("ClusterIP", http(0)), "",
		sliceYAML("topo-zone-hint-missing-1", "topo-zone-hint-missing", v4, []string{web},
			hinted(remote("10.244.1.52"), za), remote("10.244.1.152")))
	next()
	add("topo-other-zone-only", "", head("ClusterIP", http(0)), "",
		sliceYAML("topo-other-zone-only-1", "topo-other-zone-only", v4, []string{web},
			hinted(remote("10.244.1.53"), zb), hinted(remote("10.244.1.153"), zb)))
	next()
	add("topo-node-hints", "", head("NodePort", http(np(n, 0)))+"  trafficDistribution: PreferSameNode\n", "",
		sliceYAML("topo-node-hints-1", "topo-node-hints", v4, []string{web},
			hinted(local("10.244.0.54"), "{forNodes: [{name: conf-node}], forZones: [{name: zone-a}]}"),
			hinted(remote("10.244.1.54"), "{forNodes: [{name: other-node}], forZones: [{name: zone-b}]}")))
	next()
	add("topo-prefer-close", "", head("ClusterIP", http(0))+"  trafficDistribution: PreferClose\n", "",
		sliceYAML("topo-prefer-close-1", "topo-prefer-close", v4, []string{web},
			hinted(remote("10.244.1.55"), za), hinted(remote("10.244.1.155"), zb)))
	next()
	add("topo-hints-itp-local", "", head("ClusterIP", http(0))+"  internalTrafficPolicy: Local\n", "",
		sliceYAML("topo-hints-itp-local-1", "topo-hints-itp-local", v4, []string{web},
			hinted(local("10.244.0.56"), zb), hinted(remote("10.244.1.56"), za)))
	// Nothing at all
	next()
	add("headless", "", "  clusterIP: None\n  ports:\n"+http(0), "",
		sliceYAML("headless-1", "headless", v4, []string{web}, local("10.244.0.57")))
	next()
	add("external-name", "", "  type: ExternalName\n  externalName: example.com\n", "")
	next()
	add("proxy-name-label", "{service.kubernetes.io/service-proxy-name: other-proxy}", head("NodePort", http(np(n, 0))), "",
		sliceYAML("proxy-name-label-1", "proxy-name-label", v4, []string{web}, local("10.244.0.59")))
	next()
	add("headless-label", "{service.kubernetes.io/headless: \"\"}", head("ClusterIP", http(0)), "",
		sliceYAML("headless-label-1", "headless-label", v4, []string{web}, local("10.244.0.60")))
	// Dual-stack and IPv6
	ds := func(typ string, ports ...string) string {
		s := fmt.Sprintf("  type: %s\n  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n  clusterIP: %s\n  clusterIPs: [%s, %q]\n  ports:\n", typ, cip(n), cip(n), cip6(n))
		return s + strings.Join(ports, "")
	}
	v6 := func(typ string, ports ...string) string {
		s := fmt.Sprintf("  type: %s\n  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]\n  clusterIP: %q\n  clusterIPs: [%q]\n  ports:\n", typ, cip6(n), cip6(n))
		return s + strings.Join(ports, "")
	}
	next()
	add("ds-nodeport", "", ds("NodePort", http(np(n, 0))), "",
		sliceYAML("ds-nodeport-4", "ds-nodeport", v4, []string{web}, local("10.244.0.61"), remote("10.244.1.61")),
		sliceYAML("ds-nodeport-6", "ds-nodeport", "IPv6", []string{web}, local("fd00:10:244::61"), remote("fd00:10:244:1::61")))
	next()
	add("ds-etp-local", "", ds("NodePort", http(np(n, 0)))+"  externalTrafficPolicy: Local\n", "",
		sliceYAML("ds-etp-local-4", "ds-etp-local", v4, []string{web}, remote("10.244.1.62")),
		sliceYAML("ds-etp-local-6", "ds-etp-local", "IPv6", []string{web}, local("fd00:10:244::62"), remote("fd00:10:244:1::62")))
	next()
	add("v6-cip", "", v6("ClusterIP", http(0), port("dns", 53, "UDP", "5353", 0)), "",
		sliceYAML("v6-cip-1", "v6-cip", "IPv6", []string{web, dns}, local("fd00:10:244::63"), remote("fd00:10:244:1::63")))
	next()
	add("v6-lb", "", v6("LoadBalancer", http(np(n, 0)))+"  loadBalancerSourceRanges: [\"fd00:70::/64\", \"2001:db8::/32\"]\n  externalIPs: [\"fd00:110::64\"]\n",
		lbStatus(`{"ip":"fd00:100::64"}`),
		sliceYAML("v6-lb-1", "v6-lb", "IPv6", []string{web}, remote("fd00:10:244:1::64")))
	next()
	add("v6-lb-etp-local", "", v6("LoadBalancer", http(np(n, 0)))+fmt.Sprintf("  externalTrafficPolicy: Local\n  healthCheckNodePort: %d\n", np(n, 9)),
		lbStatus(`{"ip":"fd00:100::65"}`),
		sliceYAML("v6-lb-etp-local-1", "v6-lb-etp-local", "IPv6", []string{web}, local("fd00:10:244::65")))
	next()
	add("ds-slice-wrong-family", "", head("ClusterIP", http(0)), "",
		sliceYAML("ds-slice-wrong-family-6", "ds-slice-wrong-family", "IPv6", []string{web}, remote("fd00:10:244:1::66")))
	// Rows added later go last, so the node ports above keep their numbers
	// (allowlist.yaml names some).
	labelled := func(slice, label string) string {
		i := strings.Index(slice, "    kubernetes.io/service-name:")
		return slice[:i] + "    " + label + "\n" + slice[i:]
	}
	next()
	add("slice-labels", "", head("ClusterIP", http(0)), "",
		labelled(sliceYAML("slice-labels-headless", "slice-labels", v4, []string{web}, local("10.244.0.67")), `service.kubernetes.io/headless: ""`),
		labelled(sliceYAML("slice-labels-proxy-name", "slice-labels", v4, []string{web}, remote("10.244.1.67")), "service.kubernetes.io/service-proxy-name: other-proxy"),
		sliceYAML("slice-labels-plain", "slice-labels", v4, []string{web}, remote("10.244.1.167")))
	next()
	add("topo-prefer-same-zone", "", head("NodePort", http(np(n, 0)))+"  trafficDistribution: PreferSameZone\n", "",
		sliceYAML("topo-prefer-same-zone-1", "topo-prefer-same-zone", v4, []string{web},
			hinted(local("10.244.0.68"), za), hinted(remote("10.244.1.68"), zb), hinted(remote("10.244.1.168"), za)))
	next()
	add("lb-mixed-protocol", "", head("LoadBalancer", port("dns-udp", 53, "UDP", "5353", np(n, 0)), port("dns-tcp", 53, "TCP", "5353", np(n, 1))),
		lbStatus(`{"ip":"192.168.100.69"}`),
		sliceYAML("lb-mixed-protocol-1", "lb-mixed-protocol", v4, []string{"dns-udp:5353:UDP", "dns-tcp:5353:TCP"}, local("10.244.0.69"), remote("10.244.1.69")))
	// A node address outside nodePortAddresses (192.168.80.2) as external
	// IP and as LB IP: virtual servers, not bound on the dummy link, not in
	// the VIPs set (kube-proxy's nodeAddressSet is every local address). The
	// source range holds a node address that is not the Node's primary IP:
	// no node-local exception (kube-proxy checks its nodeIP only).
	next()
	add("ext-ip-node-outside-npa", "", head("ClusterIP", http(0))+"  externalIPs: [192.168.80.2]\n", "",
		sliceYAML("ext-ip-node-outside-npa-1", "ext-ip-node-outside-npa", v4, []string{web}, local("10.244.0.70"), remote("10.244.1.70")))
	next()
	add("lb-ip-node-outside-npa", "", head("LoadBalancer", port("http", 81, "TCP", "8080", np(n, 0)))+"  loadBalancerSourceRanges: [192.168.70.3/32, 10.0.0.0/8]\n",
		lbStatus(`{"ip":"192.168.80.2"}`),
		sliceYAML("lb-ip-node-outside-npa-1", "lb-ip-node-outside-npa", v4, []string{web}, remote("10.244.1.71")))
	return out
}

// change is one step of the second phase: YAML to apply, objects to
// delete ("service/NAME", "endpointslice/NAME"), status patches.
type change struct {
	what   string
	apply  []string
	delete []string
	status map[string]string // Service name -> status patch
}

// changes returns the second phase: scale, delete, policy flips, endpoint
// condition changes, new load-balancer IPs, type changes.
func changes() []change {
	v4 := "IPv4"
	rows := map[string]int{}
	for i, s := range corpus() {
		rows[s.name] = i + 1
	}
	n := func(name string) int { return rows[name] }
	return []change{
		{what: "scale cip-basic to 4 endpoints", apply: []string{
			sliceYAML("cip-basic-1", "cip-basic", v4, []string{web}, local("10.244.0.10"), remote("10.244.1.10"), local("10.244.0.110"), remote("10.244.1.110"))}},
		{what: "scale np-basic to 0 endpoints", apply: []string{sliceYAML("np-basic-1", "np-basic", v4, []string{web})}},
		{what: "delete cip-udp", delete: []string{"service/cip-udp", "endpointslice/cip-udp-1"}},
		{what: "delete one duplicate slice", delete: []string{"endpointslice/ep-duplicate-b"}},
		{what: "np-etp-local: externalTrafficPolicy Local -> Cluster", apply: []string{svcYAML("np-etp-local", "",
			fmt.Sprintf("  type: NodePort\n  clusterIP: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    nodePort: %d\n  externalTrafficPolicy: Cluster\n", cip(n("np-etp-local")), np(n("np-etp-local"), 0)))}},
		{what: "cip-itp-local-none: internalTrafficPolicy Local -> Cluster", apply: []string{svcYAML("cip-itp-local-none", "",
			fmt.Sprintf("  type: ClusterIP\n  clusterIP: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  internalTrafficPolicy: Cluster\n", cip(n("cip-itp-local-none"))))}},
		{what: "lb-basic: externalTrafficPolicy Cluster -> Local, new LB IP", apply: []string{svcYAML("lb-basic", "",
			fmt.Sprintf("  type: LoadBalancer\n  clusterIP: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    nodePort: %d\n  externalTrafficPolicy: Local\n  healthCheckNodePort: %d\n", cip(n("lb-basic")), np(n("lb-basic"), 0), np(n("lb-basic"), 9)))},
			status: map[string]string{"lb-basic": lbStatus(`{"ip":"192.168.100.230"}`)}},
		{what: "ep-terminating-mixed: the ready endpoint terminates", apply: []string{
			sliceYAML("ep-terminating-mixed-1", "ep-terminating-mixed", v4, []string{web}, terminating(local("10.244.0.44")), terminating(remote("10.244.1.44")))}},
		{what: "lb-etp-local: the local endpoint leaves", apply: []string{
			sliceYAML("lb-etp-local-1", "lb-etp-local", v4, []string{web}, remote("10.244.1.36"))}},
		{what: "lb-source-ranges: ranges no longer include the node", apply: []string{svcYAML("lb-source-ranges", "",
			fmt.Sprintf("  type: LoadBalancer\n  clusterIP: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    nodePort: %d\n  loadBalancerSourceRanges: [10.0.0.0/8]\n", cip(n("lb-source-ranges")), np(n("lb-source-ranges"), 0)))}},
		{what: "np-udp: NodePort -> ClusterIP", apply: []string{svcYAML("np-udp", "",
			fmt.Sprintf("  type: ClusterIP\n  clusterIP: %s\n  ports:\n  - name: dns\n    port: 53\n    protocol: UDP\n    targetPort: 5353\n", cip(n("np-udp"))))}},
		{what: "proxy-name-label: label removed", apply: []string{svcYAML("proxy-name-label", "",
			fmt.Sprintf("  type: NodePort\n  clusterIP: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    nodePort: %d\n", cip(n("proxy-name-label")), np(n("proxy-name-label"), 0)))}},
		{what: "ext-ips: external IPs changed", apply: []string{svcYAML("ext-ips", "",
			fmt.Sprintf("  type: ClusterIP\n  clusterIP: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  externalIPs: [192.168.110.140]\n", cip(n("ext-ips"))))}},
	}
}

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Dual-stack for real (issue #10 item 3): the node, the pods and the API
// server's Service CIDRs are dual-stack (see setup and hack/e2e.sh);
// TestDualStack runs the matrix of ipFamilyPolicy values.

// endpoint is one EndpointSlice endpoint with its conditions.
type endpoint struct {
	ip                          string
	ready, serving, terminating bool
}

func readyEndpoints(ips ...string) []endpoint {
	var out []endpoint
	for _, ip := range ips {
		out = append(out, endpoint{ip: ip, ready: true, serving: true})
	}
	return out
}

// familySliceYAML is EndpointSlice slice (addressType IPv4 or IPv6) of
// Service svc, its endpoints on this node, port "http" -> podPort.
func familySliceYAML(svc, slice, addressType string, eps []endpoint) string {
	var b strings.Builder
	for _, e := range eps {
		fmt.Fprintf(&b, "- addresses: [%q]\n  conditions: {ready: %t, serving: %t, terminating: %t}\n  nodeName: %s\n",
			e.ip, e.ready, e.serving, e.terminating, nodeName)
	}
	if len(eps) == 0 {
		b.WriteString("[]\n")
	}
	return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s
  namespace: default
  labels:
    kubernetes.io/service-name: %s
addressType: %s
ports:
- name: http
  protocol: TCP
  port: %d
endpoints:
%s`, slice, svc, addressType, podPort, b.String())
}

// famOf is "IPv4" or "IPv6", the family of ip.
func famOf(ip string) string {
	if netip.MustParseAddr(ip).Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// famAddrs are, per family, the node address the ext namespace reaches, the
// pod-side address of the node (what a masqueraded packet comes from) and
// the client address in ext.
var famAddrs = map[string]struct{ node, gateway, ext string }{
	"IPv4": {nodeAddr1, podGateway, extAddr1},
	"IPv6": {nodeAddr6a, podGateway6, extAddr6a},
}

func hostPort(ip string, port any) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }

// whoFrom fetches url (a /who URL) from namespace ns until pod answers (rr
// over the real servers: at most a few rounds) and returns the source
// address the pod saw.
func whoFrom(t *testing.T, ns, url, pod string) string {
	t.Helper()
	var last []string
	err := poll(timeout, func() error {
		var got []string
		if ns == "" {
			for range 6 {
				b, err := httpGet(url)
				if err != nil {
					b = "ERR " + err.Error()
				}
				got = append(got, b)
			}
		} else {
			var err error
			if got, err = inNS(context.Background(), ns, url, 6); err != nil {
				return err
			}
		}
		last = got
		for _, g := range got {
			if name, src, ok := strings.Cut(g, " "); ok && name == pod {
				last = []string{src}
				return nil
			}
		}
		return fmt.Errorf("%s never answered: %q", pod, got)
	})
	if err != nil {
		t.Fatalf("%s from %s: %v", url, or(ns, "node"), err)
	}
	return last[0]
}

// TestDualStack: one NodePort Service per ipFamilyPolicy, each with an
// IPv4 and an IPv6 EndpointSlice of pods a, b, c (the slice of a family the
// Service lacks must be ignored). For each family the Service has:
// ClusterIP traffic from the node and NodePort traffic from ext (every pod
// answers, counts logged), hairpin (pod-a reaches itself through its
// ClusterIP, source masqueraded to the node's pod-side address), masquerade
// (the pod sees the node's pod-side address for node -> ClusterIP and
// ext -> NodePort traffic, not the client's; IPv6 through ip6tables), and
// nothing of the families the Service lacks; the kernel equals `plan`
// (ipvsadm -Sn, kube-ipvs0 addresses, ipset members, iptables and
// ip6tables rules).
func TestDualStack(t *testing.T) {
	need(t)
	cases := []struct {
		name, policy, families string
		want                   []string // spec.ipFamilies the API server gives
		port                   int
	}{
		{"ipv4-only", "SingleStack", "[IPv4]", []string{"IPv4"}, 90},
		{"ipv6-only", "SingleStack", "[IPv6]", []string{"IPv6"}, 91},
		{"prefer-dual-stack", "PreferDualStack", "", []string{"IPv4", "IPv6"}, 92},
		{"require-dual-stack", "RequireDualStack", "[IPv6, IPv4]", []string{"IPv6", "IPv4"}, 93},
	}
	var summary []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "ds-" + c.name
			t.Cleanup(func() {
				_, _ = kubectl("", "delete", "--ignore-not-found", "service/"+name, "endpointslice/"+name+"-4", "endpointslice/"+name+"-6")
			})
			extra := "\n  ipFamilyPolicy: " + c.policy
			if c.families != "" {
				extra += "\n  ipFamilies: " + c.families
			}
			abc := []string{"pod-a", "pod-b", "pod-c"}
			apply(t, familySliceYAML(name, name+"-4", "IPv4", readyEndpoints(podIPs(abc...)...))+"---\n"+
				familySliceYAML(name, name+"-6", "IPv6", readyEndpoints(podIPs6(abc...)...))+"---\n"+
				serviceYAML(name, "NodePort", c.port, 0, extra))
			fams := strings.Fields(jsonpath(t, "service/"+name, "{.spec.ipFamilies[*]}"))
			cips := strings.Fields(jsonpath(t, "service/"+name, "{.spec.clusterIPs[*]}"))
			np := jsonpath(t, "service/"+name, "{.spec.ports[0].nodePort}")
			if !slices.Equal(fams, c.want) || len(cips) != len(c.want) {
				t.Fatalf("ipFamilies %v clusterIPs %v, want families %v (is the API server dual-stack? hack/e2e.sh)", fams, cips, c.want)
			}
			t.Logf("service %s (%s): ipFamilies %v clusterIPs %v nodePort %s", name, c.policy, fams, cips, np)

			s := converge(t) // ipvsadm -Sn, addresses, members, iptables and ip6tables rules == plan
			var vsLines []string
			for _, l := range s.ipvs {
				if strings.Contains(l, ":"+np+" ") || slices.ContainsFunc(cips, func(ip string) bool {
					return strings.Contains(l, " "+hostPort(ip, c.port)+" ")
				}) {
					vsLines = append(vsLines, l)
				}
			}
			t.Logf("ipvsadm -Sn of %s (== plan):\n%s", name, strings.Join(vsLines, "\n"))

			var got []string
			for _, cip := range cips {
				fam := famOf(cip)
				a := famAddrs[fam]
				cipURL := "http://" + hostPort(cip, c.port)
				npURL := "http://" + hostPort(a.node, np)
				n1 := answers(t, "", cipURL+"/", abc...)
				n2 := answers(t, "ext", npURL+"/", abc...)
				hair := whoFrom(t, "pod-a", cipURL+"/who", "pod-a")
				own := podIPs("pod-a")[0]
				if fam == "IPv6" {
					own = podIPs6("pod-a")[0]
				}
				if hair != a.gateway {
					t.Errorf("%s hairpin: pod-a reached itself through %s seeing source %s, want the node's %s (masqueraded; not its own %s)", fam, cip, hair, a.gateway, own)
				}
				srcNode := whoFrom(t, "", cipURL+"/who", "pod-b")
				srcExt := whoFrom(t, "ext", npURL+"/who", "pod-b")
				if srcNode != a.gateway {
					t.Errorf("%s node -> ClusterIP %s: pod-b saw %s, want %s (masqueraded)", fam, cip, srcNode, a.gateway)
				}
				if srcExt != a.gateway {
					t.Errorf("%s ext %s -> NodePort %s: pod-b saw %s, want %s (masqueraded)", fam, a.ext, hostPort(a.node, np), srcExt, a.gateway)
				}
				line := fmt.Sprintf("%s: ClusterIP %s answered %d requests %v, NodePort %s from ext %d %v, hairpin pod-a saw %s, masquerade: node->ClusterIP seen from %s, ext->NodePort seen from %s",
					fam, hostPort(cip, c.port), total(n1), n1, hostPort(a.node, np), total(n2), n2, hair, srcNode, srcExt)
				t.Log(line)
				got = append(got, fam)
				summary = append(summary, c.name+" "+line)
			}
			// Nothing of a family the Service lacks (its slice is ignored):
			// no node port virtual server on that family's address, no real
			// server of that family.
			for fam, a := range famAddrs {
				if slices.Contains(got, fam) {
					continue
				}
				other := podIPs(abc...)
				if fam == "IPv6" {
					other = podIPs6(abc...)
				}
				for _, l := range vsLines {
					if strings.Contains(l, " "+hostPort(a.node, np)+" ") ||
						slices.ContainsFunc(other, func(ip string) bool { return strings.Contains(l, " -r "+hostPort(ip, podPort)+" ") }) {
						t.Errorf("%s Service without %s has: %s", c.policy, fam, l)
					}
				}
			}
			if slices.Contains(got, "IPv6") {
				masq := masqueradeCounters(t)
				t.Logf("ip6tables nat IPVS-PROXY-POSTROUTING MASQUERADE packets (hairpin, marked): %v", masq)
				if len(masq) != 2 || masq[0] == 0 || masq[1] == 0 {
					t.Errorf("ip6tables masquerade rules unused or missing: %v", masq)
				}
			}
		})
	}
	for _, l := range summary {
		t.Log("dual-stack " + l)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// masqueradeCounters are the packet counters of the MASQUERADE rules of
// ip6tables' nat IPVS-PROXY-POSTROUTING, in order (hairpin, then marked).
func masqueradeCounters(t *testing.T) []int {
	t.Helper()
	out, err := sh("ip6tables", "-w", "-t", "nat", "-L", "IPVS-PROXY-POSTROUTING", "-n", "-v", "-x")
	if err != nil {
		t.Fatal(err)
	}
	var n []int
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) > 2 && f[2] == "MASQUERADE" {
			v, _ := strconv.Atoi(f[0])
			n = append(n, v)
		}
	}
	return n
}

package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// portContext is what addExternal needs to know about one port of a Service
// in one IP family.
type portContext struct {
	svc  *corev1.Service
	port corev1.ServicePort
	// vs is the port's ClusterIP virtual server; external virtual servers
	// copy its scheduler, flags and persistence with their own address.
	vs ipvs.VirtualServer
	// cat are the port's endpoints by policy and topology, pol its policy.
	cat  categorized
	pol  policy
	node NodeAddrs
	opt  Options
	// bad collects problems with single fields, reported as the Service's error.
	bad map[string]struct{}
}

// addExternal adds, for one Service port in the family of its cluster IP,
// everything beyond the ClusterIP and NodePort virtual servers, with
// kube-proxy IPVS-mode semantics:
//
//   - the cluster IP in the VIPs set (the dummy-link port filter);
//   - a virtual server per spec.externalIPs address and per
//     status.loadBalancer.ingress IP (ipMode Proxy skipped) of the family,
//     bound on the dummy link unless it is a local address of the node (on
//     any link but the dummy one, whatever nodePortAddresses says: kube-proxy's
//     nodeAddressSet), recorded in the ExternalIP or LoadBalancer ledger set
//     and, when bound, in the VIPs set; their real servers are the external
//     endpoints (this node's only with externalTrafficPolicy Local);
//   - with externalTrafficPolicy Local and a local endpoint: the
//     ExternalIPLocal, LoadBalancerLocal and NodePortLocal members that exempt
//     external traffic from masquerade (the client's source IP is kept);
//   - loadBalancerSourceRanges: the LBFirewall member and an LBSourceCIDR
//     member per range of the family (a /0 range means no restriction, as in
//     kube-proxy), plus an LBSourceIP member (LB IP, port, LB IP) that lets
//     node-local traffic in when the node's primary IP of the family lies in
//     a range (kube-proxy's nodeIP; see Options.NodeIPs);
//   - the healthCheckNodePort of a LoadBalancer Service with
//     externalTrafficPolicy Local: a HealthCheck member per node address.
func addExternal(st *state.State, c portContext) {
	sets := Sets(c.vs.Address)
	st.AddMember(sets.VIPs, ipset.Entry{IP: c.vs.Address})
	proto := c.vs.Protocol.String()
	port := uint16(c.port.Port)
	// With externalTrafficPolicy Local and no local endpoint the cluster
	// endpoints serve (kube-proxy's fallback, see categorized.serve), and
	// that traffic is masqueraded like any other.
	local := c.svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	eps := c.cat.serve(c.pol.externalLocal)
	keepSource := local && len(c.cat.local) > 0

	bind := func(a netip.Addr) {
		if c.node.isLocal(a) {
			return // kube-proxy never binds a node address on the dummy link
		}
		st.AddAddress(a)
		st.AddMember(sets.VIPs, ipset.Entry{IP: a})
	}
	for _, a := range externalIPs(c.svc, c.vs.Address.Is4(), c.bad) {
		vs := c.vs
		vs.Key = ipvs.Key{Protocol: c.vs.Protocol, Address: a, Port: port}
		bind(a)
		addVirtualServer(st, vs, sets.ExternalIP, sets, eps, c.opt.NodeName)
		if keepSource {
			st.AddMember(sets.ExternalIPLocal, ledgerEntry(vs.Key))
		}
	}
	ranges := sourceRanges(c.svc, c.vs.Address.Is4(), c.bad)
	// kube-proxy lets node-local traffic in when a range holds its nodeIP
	// (the primary one of the family), whatever the other node addresses.
	nodeIP := c.opt.nodeIP(c.vs.Address.Is4())
	fromNode := slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(nodeIP) })
	for _, a := range loadBalancerIPs(c.svc, c.vs.Address.Is4(), c.bad) {
		vs := c.vs
		vs.Key = ipvs.Key{Protocol: c.vs.Protocol, Address: a, Port: port}
		bind(a)
		addVirtualServer(st, vs, sets.LoadBalancer, sets, eps, c.opt.NodeName)
		e := ledgerEntry(vs.Key)
		if keepSource {
			st.AddMember(sets.LoadBalancerLocal, e)
		}
		if len(ranges) == 0 {
			continue
		}
		st.AddMember(sets.LBFirewall, e)
		for _, p := range ranges {
			st.AddMember(sets.LBSourceCIDR, ipset.Entry{IP: a, Protocol: proto, Port: port, Net: p})
		}
		if fromNode {
			st.AddMember(sets.LBSourceIP, ipset.Entry{IP: a, Protocol: proto, Port: port, IP2: a})
		}
	}
	hasNodePorts := c.svc.Spec.Type == corev1.ServiceTypeNodePort || c.svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	for _, a := range c.node.NodePort {
		if a.Is4() != c.vs.Address.Is4() {
			continue
		}
		if keepSource && hasNodePorts && c.port.NodePort != 0 {
			st.AddMember(sets.NodePortLocal, ipset.Entry{IP: a, Protocol: proto, Port: uint16(c.port.NodePort)})
		}
		if hc := healthCheckNodePort(c.svc); hc != 0 {
			st.AddMember(sets.HealthCheck, ipset.Entry{IP: a, Protocol: "tcp", Port: hc})
		}
	}
}

// externalIPs returns spec.externalIPs of one family, parsed, sorted and
// without duplicates; unparsable ones are noted in bad.
func externalIPs(svc *corev1.Service, v4 bool, bad map[string]struct{}) []netip.Addr {
	var out []netip.Addr
	for i, s := range svc.Spec.ExternalIPs {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || a.Zone() != "" || !a.IsValid() || a.IsUnspecified() {
			bad[fmt.Sprintf("spec.externalIPs[%d] %q is not an IP address", i, s)] = struct{}{}
			continue
		}
		if a = a.Unmap(); a.Is4() == v4 {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// loadBalancerIPs returns the status.loadBalancer.ingress IPs of one family
// that are VIPs (ipMode unset or VIP; Proxy means the load balancer proxies
// and the node must not capture the address), sorted, without duplicates.
func loadBalancerIPs(svc *corev1.Service, v4 bool, bad map[string]struct{}) []netip.Addr {
	var out []netip.Addr
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy) {
			continue
		}
		a, err := netip.ParseAddr(ing.IP)
		if err != nil || a.Zone() != "" || a.IsUnspecified() {
			bad[fmt.Sprintf("status.loadBalancer.ingress[%d].ip %q is not an IP address", i, ing.IP)] = struct{}{}
			continue
		}
		if a = a.Unmap(); a.Is4() == v4 {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// sourceRanges returns spec.loadBalancerSourceRanges of one family, masked,
// sorted and without duplicates (blanks around a range are trimmed, as
// kube-proxy does). A /0 range allows everyone: the result is then empty,
// which means no restriction.
func sourceRanges(svc *corev1.Service, v4 bool, bad map[string]struct{}) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range svc.Spec.LoadBalancerSourceRanges {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil || p.Addr().Zone() != "" {
			bad[fmt.Sprintf("spec.loadBalancerSourceRanges[%d] %q is not a CIDR", i, s)] = struct{}{}
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Addr().Is4() != v4 {
			continue
		}
		if p.Bits() == 0 {
			return nil
		}
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

// healthCheckNodePort is the port kube-proxy serves a Service's health check
// on: spec.healthCheckNodePort of a LoadBalancer Service with
// externalTrafficPolicy Local, else 0.
func healthCheckNodePort(svc *corev1.Service) uint16 {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return 0
	}
	if p := svc.Spec.HealthCheckNodePort; p > 0 && p <= 65535 {
		return uint16(p)
	}
	return 0
}

// HealthCheck returns what the health-check server of svc needs on node:
// its healthCheckNodePort and the number of distinct ready endpoint
// addresses on node, per family ([0] IPv4, [1] IPv6), as kube-proxy counts
// them (Ready nil counts as ready; terminating endpoints are not ready).
// ok is false for Services that have no health check (not a LoadBalancer
// with externalTrafficPolicy Local, no port, or skipped altogether).
// EndpointSlices kube-proxy ignores (see ProxiedSlice) do not count.
func HealthCheck(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, node, proxyName string) (port uint16, local [2]int, ok bool) {
	if skip(svc, proxyName) {
		return 0, local, false
	}
	port = healthCheckNodePort(svc)
	if port == 0 {
		return 0, local, false
	}
	seen := map[netip.Addr]struct{}{}
	for _, sl := range slices {
		if !ProxiedSlice(sl) {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.NodeName == nil || *ep.NodeName != node || len(ep.Addresses) == 0 {
				continue
			}
			if r := ep.Conditions.Ready; r != nil && !*r {
				continue
			}
			a, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || a.Zone() != "" {
				continue
			}
			a = a.Unmap()
			if _, dup := seen[a]; dup {
				continue
			}
			seen[a] = struct{}{}
			if a.Is4() {
				local[0]++
			} else {
				local[1]++
			}
		}
	}
	return port, local, true
}

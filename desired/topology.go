package desired

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// policy is what one Service port's traffic policies ask of its endpoints
// (kube-proxy's ServicePort.UsesClusterEndpoints / UsesLocalEndpoints).
type policy struct {
	internalLocal bool // internalTrafficPolicy: Local
	externalLocal bool // externalTrafficPolicy: Local on an externally accessible Service
	external      bool // this port is reachable from outside: nodePort, externalIPs or LB ingress IPs
}

func policyOf(svc *corev1.Service, sp corev1.ServicePort, v4 bool) policy {
	p := policy{external: externallyAccessible(svc, sp, v4)}
	if itp := svc.Spec.InternalTrafficPolicy; itp != nil && *itp == corev1.ServiceInternalTrafficPolicyLocal {
		p.internalLocal = true
	}
	accessible := svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
	p.externalLocal = accessible && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	return p
}

// externallyAccessible is kube-proxy's per-port, per-family test: a node
// port, an external IP or a load-balancer ingress IP of the family.
func externallyAccessible(svc *corev1.Service, sp corev1.ServicePort, v4 bool) bool {
	hasNodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if hasNodePorts && sp.NodePort != 0 {
		return true
	}
	ofFamily := func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err == nil && a.Unmap().Is4() == v4
	}
	if slices.ContainsFunc(svc.Spec.ExternalIPs, ofFamily) {
		return true
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if ofFamily(in.IP) {
				return true
			}
		}
	}
	return false
}

func (p policy) usesCluster() bool { return !p.internalLocal || p.external }
func (p policy) usesLocal() bool   { return p.internalLocal || (p.externalLocal && p.external) }

// categorized are the endpoints of one Service port split the way
// kube-proxy's CategorizeEndpoints splits them.
type categorized struct {
	// cluster are the usable endpoints for Cluster policy, after topology
	// (nil when the port never uses Cluster policy).
	cluster []endpoint
	// local are the usable endpoints on this node (nil when the port never
	// uses Local policy).
	local []endpoint
}

// serve returns the real servers of a virtual server: with onlyLocal (its
// traffic policy is Local) the local endpoints, or, when there is none, the
// cluster ones. kube-proxy's IPVS mode does this (kubernetes PR 97081) so
// that pods on a node without a local endpoint still reach the Service; an
// external client's packets are forwarded too, but their replies carry the
// pod's address and are dropped, as with no endpoint at all.
func (c categorized) serve(onlyLocal bool) []endpoint {
	if onlyLocal && len(c.local) > 0 {
		return c.local
	}
	return c.cluster
}

// categorize is CategorizeEndpoints for one node: usable means ready, or,
// when none is (separately for Cluster and Local), serving and terminating.
// Topology hints narrow the cluster endpoints as in topologyModeFromHints.
func categorize(eps []endpoint, pol policy, node, zone string) categorized {
	var c categorized
	if len(eps) == 0 {
		return c
	}
	if pol.usesCluster() {
		mode := topologyMode(eps, node, zone)
		c.cluster = filter(eps, func(e endpoint) bool { return e.ready && availableForTopology(e, mode, node, zone) })
		if len(c.cluster) == 0 {
			c.cluster = filter(eps, endpoint.servingTerminating)
		}
	}
	if !pol.usesLocal() {
		return c
	}
	isLocal := func(e endpoint) bool { return e.nodeName != "" && e.nodeName == node }
	c.local = filter(eps, func(e endpoint) bool { return isLocal(e) && e.ready })
	if len(c.local) == 0 {
		c.local = filter(eps, func(e endpoint) bool { return isLocal(e) && e.servingTerminating() })
	}
	return c
}

// Topology modes, named after the trafficDistribution values that make the
// EndpointSlice controller write the hints.
const (
	topologyNone     = ""
	topologySameNode = corev1.ServiceTrafficDistributionPreferSameNode
	topologySameZone = corev1.ServiceTrafficDistributionPreferSameZone
)

// topologyMode is kube-proxy's topologyModeFromHints: kube-proxy does not
// read spec.trafficDistribution itself (PreferClose, PreferSameZone and
// PreferSameNode reach it as hints the EndpointSlice controller writes). Node
// hints are used when every ready endpoint has one and one names this node;
// else zone hints when every ready endpoint has one and one names this
// node's zone; else none.
func topologyMode(eps []endpoint, node, zone string) string {
	anyReady, allNode, forNode, allZone, forZone := false, true, false, true, false
	for _, e := range eps {
		if !e.ready {
			continue
		}
		anyReady = true
		if len(e.forNodes) == 0 {
			allNode = false
		} else if slices.Contains(e.forNodes, node) {
			forNode = true
		}
		if len(e.forZones) == 0 {
			allZone = false
		} else if slices.Contains(e.forZones, zone) {
			forZone = true
		}
	}
	switch {
	case !anyReady:
		return topologyNone
	case allNode && forNode:
		return topologySameNode
	case allZone && forZone:
		return topologySameZone
	}
	return topologyNone
}

func availableForTopology(e endpoint, mode, node, zone string) bool {
	switch mode {
	case topologySameNode:
		return slices.Contains(e.forNodes, node)
	case topologySameZone:
		return slices.Contains(e.forZones, zone)
	}
	return true
}

// filter returns the endpoints keep accepts, in order: eps itself when it
// accepts them all (the common case: every endpoint ready), capped so that
// an append copies; the lists are read-only.
func filter(eps []endpoint, keep func(endpoint) bool) []endpoint {
	i := 0
	for i < len(eps) && keep(eps[i]) {
		i++
	}
	if i == len(eps) {
		if eps == nil {
			return []endpoint{}
		}
		return eps[:i:i]
	}
	out := make([]endpoint, i, len(eps))
	copy(out, eps[:i])
	for _, e := range eps[i+1:] {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

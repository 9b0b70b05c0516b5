package controllers

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// Annotation prefixes the proxy (or a feature being added) reads; every
// other annotation is dropped from the informer caches.
var keptAnnotationPrefixes = []string{"ipvs-proxy.io/", "service.kubernetes.io/"}

// The labels the proxy reads on Services and EndpointSlices: the slice's
// Service (informers.go, status.go, desired/build.go), the informers'
// filters (desired/proxied.go; the label selectors run in the API server).
// Every other label of theirs is dropped; Nodes keep all theirs (one
// object; the zone label is read).
var keptLabels = []string{desired.ServiceNameLabel, desired.ProxyNameLabel, desired.HeadlessLabel}

// trim is the informers' transform: the caches keep only what the proxy
// reads, and share what objects repeat, so that 10,000 Services and their
// EndpointSlices cost what their endpoints cost, not what their
// managedFields, annotations and repeated strings cost.
//
// Services keep their spec (but its pod selector), the labels in
// keptLabels, our annotations and status.loadBalancer's ingress IPs and IP
// modes; Nodes their labels, addresses and pod CIDRs. An EndpointSlice
// becomes a *slimSlice (slimslice.go: what the proxy reads of it, packed;
// the Source expands it back for desired/). Other objects pass unchanged.
// What objects repeat is shared through the interner (intern.go):
// namespaces, enum values, port names, label keys, node names, the ports'
// pointers, the IP-family lists; a Service's ClusterIP is its
// ClusterIPs[0].
//
// trim changes the Service or Node it is given and returns it: client-go
// (since 1.27) hands the transform the decoder's object before anyone else
// sees it, and trimming in place saves a second struct per object (an
// EndpointSlice is read, not changed, and replaced). It is idempotent
// (client-go asks that), so it may be called on its own output (a
// *slimSlice passes unchanged). Nothing may write through what it
// returns: informer caches are read-only, and its strings, pointers and
// slices are shared between objects.
//
// An object's own strings (name, UID, resource version, cluster IP) are
// packed into one allocation (pack).
//
// Per object (BenchmarkTrimmedObjectBytes, bench_trim_test.go, on the
// objects of `make bench` as the API server serves them, served_test.go):
// a Service 812-816 B (was 964-968), an EndpointSlice of 10 endpoints
// 608 B as a slimSlice (2,106 B trimmed in its API type, 2,304 before
// trimming): the struct 192, 10 endpoints of 32 B (320), the packed name,
// UID and resource version 64, the ports 32. 1.4 KB live and 1.7 KB of
// heap in use for the pair (3.2-3.4 KB before the slim slice). Most of the
// Service is its API struct (640).
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		o.Spec.Selector = nil // EndpointSlices say which pods back a Service
		internSpec(&o.Spec)
		if ips := o.Spec.ClusterIPs; len(ips) > 0 && ips[0] != corev1.ClusterIPNone {
			pack(&o.Name, (*string)(&o.UID), &o.ResourceVersion, &ips[0])
			if o.Spec.ClusterIP == ips[0] {
				o.Spec.ClusterIP = ips[0]
			}
		} else {
			pack(&o.Name, (*string)(&o.UID), &o.ResourceVersion)
		}
		o.ObjectMeta = trimMeta(o.ObjectMeta, true, true)
		o.Status = trimServiceStatus(o.Status)
		return o, nil
	case *discoveryv1.EndpointSlice:
		return slimOf(o), nil // slimslice.go; a *slimSlice passes unchanged
	case *corev1.Node:
		o.ObjectMeta = trimMeta(o.ObjectMeta, false, false)
		o.Spec = corev1.NodeSpec{PodCIDR: o.Spec.PodCIDR, PodCIDRs: o.Spec.PodCIDRs}
		o.Status = corev1.NodeStatus{Addresses: o.Status.Addresses}
		return o, nil
	}
	return obj, nil
}

// internSpec shares the spec's enum values, port names and IP-family list
// through the interner, and its ClusterIP with ClusterIPs[0], in place.
func internSpec(sp *corev1.ServiceSpec) {
	sp.Type = corev1.ServiceType(tables.str(string(sp.Type)))
	sp.SessionAffinity = corev1.ServiceAffinity(tables.str(string(sp.SessionAffinity)))
	sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(tables.str(string(sp.ExternalTrafficPolicy)))
	sp.IPFamilies = ipFamilies(sp.IPFamilies)
	sp.IPFamilyPolicy = enumPtr(policyPtrs, sp.IPFamilyPolicy)
	sp.InternalTrafficPolicy = enumPtr(internalPtrs, sp.InternalTrafficPolicy)
	sp.TrafficDistribution = tables.strPtr(sp.TrafficDistribution)
	if len(sp.ClusterIPs) > 0 && sp.ClusterIPs[0] == sp.ClusterIP {
		sp.ClusterIP = sp.ClusterIPs[0]
	}
	if sp.ClusterIP == corev1.ClusterIPNone {
		sp.ClusterIP = corev1.ClusterIPNone
		if len(sp.ClusterIPs) > 0 && sp.ClusterIPs[0] == corev1.ClusterIPNone {
			sp.ClusterIPs[0] = corev1.ClusterIPNone
		}
	}
	for i := range sp.Ports {
		p := &sp.Ports[i]
		p.Name = tables.str(p.Name)
		p.Protocol = corev1.Protocol(tables.str(string(p.Protocol)))
		p.AppProtocol = tables.strPtr(p.AppProtocol)
		p.TargetPort.StrVal = tables.str(p.TargetPort.StrVal)
	}
}

// trimServiceStatus keeps the load-balancer ingress IPs and IP modes (what
// desired/external.go and topology.go read), without hostnames and ports.
func trimServiceStatus(st corev1.ServiceStatus) corev1.ServiceStatus {
	in := st.LoadBalancer.Ingress
	if len(in) == 0 {
		return corev1.ServiceStatus{}
	}
	for i, ing := range in {
		in[i] = corev1.LoadBalancerIngress{IP: ing.IP, IPMode: enumPtr(ipModePtrs, ing.IPMode)}
	}
	return corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: in}}
}

// trimEndpointPorts shares the ports' name, protocol, port and app
// protocol pointers through the interner.
func trimEndpointPorts(ports []discoveryv1.EndpointPort) {
	for i, p := range ports {
		ports[i] = discoveryv1.EndpointPort{
			Name: tables.strPtr(p.Name), Protocol: enumPtr(protocolPtrs, p.Protocol),
			Port: tables.port(p.Port), AppProtocol: tables.strPtr(p.AppProtocol),
		}
	}
}

// The values every expanded condition points to (slimslice.go): nothing
// writes through them (informer caches are read-only).
var (
	trueValue  = true
	falseValue = false
)

// trimMeta keeps identity, version, the labels (only keptLabels when
// someLabels is set) and, when annotations is set, the annotations with a
// kept prefix. The namespace, label keys and short label values are
// interned; a label value that starts the object's name (the slice's
// service-name) shares the name's bytes.
func trimMeta(m metav1.ObjectMeta, annotations, someLabels bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         tables.str(m.Namespace),
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            m.Labels,
	}
	if someLabels {
		out.Labels = nil
		for _, k := range keptLabels {
			v, ok := m.Labels[k]
			if !ok {
				continue
			}
			if out.Labels == nil {
				out.Labels = make(map[string]string, 1)
			}
			if strings.HasPrefix(m.Name, v) {
				v = m.Name[:len(v)]
			} else {
				v = tables.str(v)
			}
			out.Labels[k] = v
		}
	}
	if !annotations {
		return out
	}
	for k, v := range m.Annotations {
		for _, p := range keptAnnotationPrefixes {
			if strings.HasPrefix(k, p) {
				if out.Annotations == nil {
					out.Annotations = map[string]string{}
				}
				out.Annotations[k] = v
				break
			}
		}
	}
	return out
}

// pack moves the strings ps point to into one allocation (each becomes a
// substring of it): an object's own strings (name, UID, resource version,
// cluster IP) live as long as the object, and one allocation of their
// total size packs them densely, where a dozen-byte allocation each would
// sit between the decoder's garbage of the same size and keep its pages in
// use (LiveHeap10k's heap in use).
func pack(ps ...*string) {
	n := 0
	for _, p := range ps {
		n += len(*p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ps {
		b.WriteString(*p)
	}
	all := b.String()
	for _, p := range ps {
		l := len(*p)
		*p, all = all[:l], all[l:]
	}
}

package controllers

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotation prefixes the proxy (or a feature being added) reads; every
// other annotation is dropped from the informer caches.
var keptAnnotationPrefixes = []string{"ipvs-proxy.io/", "service.kubernetes.io/"}

// trim is the informers' transform: the caches keep only what the proxy
// reads, and share what objects repeat, so that 10,000 Services and their
// EndpointSlices cost what their endpoints cost, not what their
// managedFields, annotations and repeated strings cost.
//
// A Service becomes a *slimService (slimservice.go) and an EndpointSlice a
// *slimSlice (slimslice.go): what the proxy reads of them, packed; the
// Source hands them out as they are and expands them for desired/ only
// when a sync rebuilds their Service. Nodes keep their labels, addresses
// and pod CIDRs. Other objects pass unchanged. What objects repeat is
// shared through the interner (intern.go): namespaces, enum values, port
// names, label keys, node names, the ports' pointers.
//
// A Service or an EndpointSlice is read, not changed, and replaced; a Node
// is trimmed in place: client-go (since 1.27) hands the transform the
// decoder's object before anyone else sees it, and trimming in place saves
// a second struct per object. trim is idempotent (client-go asks that), so
// it may be called on its own output (a slim object passes unchanged).
// Nothing may write through what it returns: informer caches are
// read-only, and its strings, pointers and slices are shared between
// objects.
//
// An object's own strings (name, UID, resource version, cluster IPs) are
// packed into one allocation (pack).
//
// Per object (BenchmarkTrimmedObjectBytes, bench_trim_test.go, on the
// objects of `make bench` as the API server serves them, served_test.go):
// a Service 284-288 B as a slimService: the struct 160, its cluster IPs
// 80 (the packed name, UID, resource version and cluster IP, and the
// slice), one port 48 (812-816 B as a trimmed *corev1.Service, of which
// the API struct was 640; 964-968 before trimming); an EndpointSlice of 10 endpoints 608 B as a slimSlice (2,106
// B trimmed in its API type, 2,304 before trimming): the struct 192, 10
// endpoints of 32 B (320), the packed name, UID and resource version 64,
// the ports 32.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return slimServiceOf(o), nil // slimservice.go; a *slimService passes unchanged
	case *discoveryv1.EndpointSlice:
		return slimOf(o), nil // slimslice.go; a *slimSlice passes unchanged
	case *corev1.Node:
		o.ObjectMeta = trimMeta(o.ObjectMeta)
		o.Spec = corev1.NodeSpec{PodCIDR: o.Spec.PodCIDR, PodCIDRs: o.Spec.PodCIDRs}
		o.Status = corev1.NodeStatus{Addresses: o.Status.Addresses}
		return o, nil
	}
	return obj, nil
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

// trimMeta keeps a Node's identity, version and labels (the zone label is
// read; a Node is one object), its namespace interned.
func trimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         tables.str(m.Namespace),
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            m.Labels,
	}
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

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
// reads, so that 10,000 Services and their EndpointSlices cost what their
// endpoints cost, not what their managedFields and annotations cost.
// Services keep their spec (but its pod selector), labels, our annotations and
// status.loadBalancer; EndpointSlices their endpoints (without the
// TargetRef, hostname, zone and deprecated topology; conditions and
// repeated node names shared), ports, labels and address type; Nodes
// their labels, addresses and pod CIDRs. Other objects pass unchanged. It
// returns a new object and may be called on its own output.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		out := &corev1.Service{
			ObjectMeta: trimMeta(o.ObjectMeta, true),
			Spec:       o.Spec,
			Status:     corev1.ServiceStatus{LoadBalancer: o.Status.LoadBalancer},
		}
		out.Spec.Selector = nil // EndpointSlices say which pods back a Service
		return out, nil
	case *discoveryv1.EndpointSlice:
		out := &discoveryv1.EndpointSlice{
			ObjectMeta:  trimMeta(o.ObjectMeta, false),
			AddressType: o.AddressType,
			Ports:       o.Ports,
		}
		if len(o.Endpoints) > 0 {
			out.Endpoints = make([]discoveryv1.Endpoint, len(o.Endpoints))
			var node *string // the last node name, shared by the endpoints that repeat it
			for i, ep := range o.Endpoints {
				ep.TargetRef = nil
				ep.DeprecatedTopology = nil
				ep.Hostname = nil // kube-proxy reads neither hostname nor zone (only the zone hints)
				ep.Zone = nil
				ep.Conditions = discoveryv1.EndpointConditions{
					Ready: sharedBool(ep.Conditions.Ready), Serving: sharedBool(ep.Conditions.Serving), Terminating: sharedBool(ep.Conditions.Terminating),
				}
				if n := ep.NodeName; n != nil {
					if node == nil || *node != *n {
						node = n
					}
					ep.NodeName = node
				}
				out.Endpoints[i] = ep
			}
		}
		return out, nil
	case *corev1.Node:
		return &corev1.Node{
			ObjectMeta: trimMeta(o.ObjectMeta, false),
			Spec:       corev1.NodeSpec{PodCIDR: o.Spec.PodCIDR, PodCIDRs: o.Spec.PodCIDRs},
			Status:     corev1.NodeStatus{Addresses: o.Status.Addresses},
		}, nil
	}
	return obj, nil
}

// The values every trimmed condition points to: the decoder allocates one
// bool per condition per endpoint, three per endpoint, and nothing writes
// through them (informer caches are read-only).
var (
	trueValue  = true
	falseValue = false
)

func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &trueValue
	}
	return &falseValue
}

// trimMeta keeps identity, version, labels and (when annotations is set)
// the annotations with a kept prefix.
func trimMeta(m metav1.ObjectMeta, annotations bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            m.Labels,
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

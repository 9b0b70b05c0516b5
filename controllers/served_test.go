package controllers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// servedCount numbers the objects served, for their UIDs and resource
// versions.
var servedCount int

// served returns obj as the informers receive it from the API server:
// decoded from encodeServed's bytes. obj is not changed.
func served[T *corev1.Service | *discoveryv1.EndpointSlice | *corev1.Node](obj T) T {
	return decodeServed[T](encodeServed(obj))
}

// encodeServed returns the protobuf encoding of obj as the API server
// serves it: the fields the API server defaults or allocates filled in (for
// a Service created as hack/benchdrive creates them: IP families,
// policies, session affinity; for an EndpointSlice the managed-by label
// benchdrive sets), its metadata (UID, resource version, creation time,
// one managedFields entry) set. obj is not changed.
func encodeServed[T *corev1.Service | *discoveryv1.EndpointSlice | *corev1.Node](obj T) []byte {
	servedCount++
	meta := func(m *metav1.ObjectMeta, manager string) {
		if m.UID == "" {
			m.UID = types.UID(fmt.Sprintf("6f1c2d3e-4a5b-4c6d-8e9f-%012d", servedCount))
		}
		if m.ResourceVersion == "" {
			m.ResourceVersion = fmt.Sprint(100000 + servedCount)
		}
		m.CreationTimestamp = metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
		if len(m.ManagedFields) == 0 {
			m.ManagedFields = []metav1.ManagedFieldsEntry{{
				Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				Time: &m.CreationTimestamp, FieldsType: "FieldsV1",
				FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{}}},"f:spec":{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:type":{}}}`),
			}}
		}
	}
	var b []byte
	var err error
	switch o := any(obj).(type) {
	case *corev1.Service:
		s := o.DeepCopy()
		meta(&s.ObjectMeta, "benchdrive")
		sp := &s.Spec
		if sp.SessionAffinity == "" {
			sp.SessionAffinity = corev1.ServiceAffinityNone
		}
		if len(sp.IPFamilies) == 0 && sp.ClusterIP != "" && sp.ClusterIP != corev1.ClusterIPNone {
			sp.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if sp.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			sp.IPFamilyPolicy = &p
		}
		if sp.InternalTrafficPolicy == nil {
			p := corev1.ServiceInternalTrafficPolicyCluster
			sp.InternalTrafficPolicy = &p
		}
		if sp.ExternalTrafficPolicy == "" && (sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer) {
			sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}
		b, err = s.Marshal()
	case *discoveryv1.EndpointSlice:
		s := o.DeepCopy()
		meta(&s.ObjectMeta, "benchdrive")
		if _, ok := s.Labels[discoveryv1.LabelManagedBy]; !ok {
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.Labels[discoveryv1.LabelManagedBy] = "benchdrive"
		}
		s.Generation = 1
		b, err = s.Marshal()
	case *corev1.Node:
		s := o.DeepCopy()
		meta(&s.ObjectMeta, "kubelet")
		b, err = s.Marshal()
	}
	if err != nil {
		panic(err)
	}
	return b
}

// decodeServed decodes encodeServed's bytes as controllers/run.go's client
// does (protobuf): every string, pointer and map of the object gets an
// allocation of its own, which is what the informer caches hold (objects
// built in Go share constants and literals, and so hide what interning
// saves). Benchmarks encode first and decode later, so that the garbage of
// building the objects in Go does not sit among the decoded ones, which
// it never does in production.
func decodeServed[T *corev1.Service | *discoveryv1.EndpointSlice | *corev1.Node](b []byte) T {
	var out T
	var err error
	switch o := any(out).(type) {
	case *corev1.Service:
		o = &corev1.Service{}
		err = o.Unmarshal(b)
		out = any(o).(T)
	case *discoveryv1.EndpointSlice:
		o = &discoveryv1.EndpointSlice{}
		err = o.Unmarshal(b)
		out = any(o).(T)
	case *corev1.Node:
		o = &corev1.Node{}
		err = o.Unmarshal(b)
		out = any(o).(T)
	}
	if err != nil {
		panic(err)
	}
	return out
}

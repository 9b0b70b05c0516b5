package controllers

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Source is the reconciler's read-only view of the cluster: in production the
// informer caches, in tests a map.
type Source interface {
	// Services lists every Service.
	Services() []*corev1.Service
	// Service returns one Service, or false when it does not exist.
	Service(n types.NamespacedName) (*corev1.Service, bool)
	// Slices returns the EndpointSlices of Service n, expanded from the
	// cache's slim form (slimslice.go): it allocates.
	Slices(n types.NamespacedName) []*discoveryv1.EndpointSlice
	// SliceVersions returns the identity (cached object, resource version)
	// of each EndpointSlice of Service n, in no particular order, without
	// expanding them: fragCache compares these on every refresh.
	SliceVersions(n types.NamespacedName) []sliceRef
}

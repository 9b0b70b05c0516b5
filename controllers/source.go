package controllers

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Source is the reconciler's read-only view of the cluster: in production the
// informer caches, in tests a map. Services come as the caches hold them,
// slim (slimservice.go): what decides whether a Service changed compares
// these (fragcache.go) and reads them in place; expand builds the
// *corev1.Service desired/ reads, for the Services a sync rebuilds.
type Source interface {
	// Services lists every Service, not expanded.
	Services() []*slimService
	// Service returns one Service, not expanded, or false when it does not
	// exist.
	Service(n types.NamespacedName) (*slimService, bool)
	// Slices returns the EndpointSlices of Service n, expanded from the
	// cache's slim form (slimslice.go): it allocates.
	Slices(n types.NamespacedName) []*discoveryv1.EndpointSlice
	// SliceVersions returns the identity (cached object, resource version)
	// of each EndpointSlice of Service n, in no particular order, without
	// expanding them: fragCache compares these on every refresh.
	SliceVersions(n types.NamespacedName) []sliceRef
}

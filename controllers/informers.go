package controllers

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// cacheSource reads Services from the Service informer's store and
// EndpointSlices from the index the slice informer's handler keeps
// (sliceindex.go), in their slim form (slimservice.go, slimslice.go). The
// store is read directly, not through the typed lister, which would assert
// *corev1.Service.
type cacheSource struct {
	services cache.Store
	slices   *sliceIndex
}

func (s cacheSource) Services() []*slimService {
	objs := s.services.List()
	out := make([]*slimService, 0, len(objs))
	for _, o := range objs {
		if svc, ok := o.(*slimService); ok {
			out = append(out, svc)
		}
	}
	return out
}

func (s cacheSource) Service(n types.NamespacedName) (*slimService, bool) {
	o, ok, err := s.services.GetByKey(n.Namespace + "/" + n.Name)
	if err != nil || !ok {
		return nil, false
	}
	svc, ok := o.(*slimService)
	return svc, ok
}

func (s cacheSource) Slices(n types.NamespacedName) []*discoveryv1.EndpointSlice {
	return s.slices.expanded(n)
}

func (s cacheSource) SliceVersions(n types.NamespacedName) []sliceRef { return s.slices.refs(n) }

// serviceOf returns the Service an informer object (or tombstone) belongs to.
func serviceOf(obj any) (types.NamespacedName, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	switch o := obj.(type) {
	case *slimService:
		return o.name(), true
	case *corev1.Service:
		return types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, true
	case *slimSlice:
		return o.owner()
	}
	return types.NamespacedName{}, false
}

// handler marks the Services an event touches (both old and new owner of an
// EndpointSlice whose label changed).
func handler(mark func(types.NamespacedName)) cache.ResourceEventHandler {
	one := func(obj any) {
		if n, ok := serviceOf(obj); ok {
			mark(n)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    one,
		UpdateFunc: func(old, cur any) { one(old); one(cur) },
		DeleteFunc: one,
	}
}

// API is what the Controller needs of the API server: a ListerWatcher for
// each resource it watches, "services", "endpointslices" and "nodes"
// (kube.Client in production; tests adapt client-go's fake clientset).
type API interface {
	ListWatch(resource string, tweak func(*metav1.ListOptions)) cache.ListerWatcher
}

// informer returns an informer of resource through api, whose cache holds
// what trim (transform.go) makes of each object. No indexers: the Service
// lister reads by key and lists all, and EndpointSlices are found through
// the sliceIndex.
func informer(api API, resource string, example runtime.Object, tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformerWithOptions(api.ListWatch(resource, tweak), example, cache.SharedIndexInformerOptions{})
	_ = inf.SetTransform(trim) // fails only once the informer has started
	return inf
}

// sliceInformer is the EndpointSlice informer of Run: kube-proxy's label
// selector (sliceSelector) and the transform (trim: the cache holds
// slimSlices). Its slices by Service are a sliceIndex its handler keeps.
func sliceInformer(api API) cache.SharedIndexInformer {
	return informer(api, "endpointslices", &discoveryv1.EndpointSlice{},
		func(o *metav1.ListOptions) { o.LabelSelector = sliceSelector })
}

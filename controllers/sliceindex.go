package controllers

import (
	"slices"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// sliceIndex is the EndpointSlices of each Service, kept by the
// EndpointSlice informer's event handler (handler) where client-go's
// indexer kept a set of keys per Service: ~3.1 MB at 10,000 Services
// with one slice each (a string set and a key string per Service, and the
// reverse index), against one map entry and a one-pointer array here.
//
// It sees what the handler sees: a Service's slices change here before
// the Service is marked, so a sync that the mark starts reads them. The
// controller waits for the handler's initial list (its registration's
// HasSynced) before the first sync. Slices without a service-name label
// are not indexed (no Service reads them). The *slimSlices are the
// informer cache's own: nothing may write through them.
type sliceIndex struct {
	mu sync.RWMutex
	m  map[types.NamespacedName][]*slimSlice
}

func newSliceIndex() *sliceIndex {
	return &sliceIndex{m: map[types.NamespacedName][]*slimSlice{}}
}

// expanded returns the slices of Service n, expanded (expandAll).
func (x *sliceIndex) expanded(n types.NamespacedName) []*discoveryv1.EndpointSlice {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return expandAll(x.m[n])
}

// refs returns the identity of the slices of Service n (see Source.SliceVersions).
func (x *sliceIndex) refs(n types.NamespacedName) []sliceRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return refsOf(x.m[n])
}

// refsOf returns the identity of each of sls.
func refsOf(sls []*slimSlice) []sliceRef {
	if len(sls) == 0 {
		return nil
	}
	out := make([]sliceRef, len(sls))
	for i, sl := range sls {
		out[i] = sl.ref()
	}
	return out
}

// put adds sl, or replaces the slice of its name under its Service.
func (x *sliceIndex) put(sl *slimSlice) {
	x.edit(sl, func(sls []*slimSlice, i int) []*slimSlice {
		if i < 0 {
			return append(sls, sl)
		}
		sls[i] = sl
		return sls
	})
}

// remove drops the slice named as sl from the Service sl names.
func (x *sliceIndex) remove(sl *slimSlice) {
	x.edit(sl, func(sls []*slimSlice, i int) []*slimSlice {
		if i < 0 {
			return sls
		}
		return slices.Delete(sls, i, i+1)
	})
}

// edit replaces the slices of the Service sl names with what f makes of
// them, given the index of the slice named as sl (-1 when none); a Service
// left without slices is dropped.
func (x *sliceIndex) edit(sl *slimSlice, f func(sls []*slimSlice, i int) []*slimSlice) {
	n, ok := sl.owner()
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	sls := x.m[n]
	sls = f(sls, slices.IndexFunc(sls, func(o *slimSlice) bool { return o.Name == sl.Name }))
	if len(sls) == 0 {
		delete(x.m, n)
		return
	}
	x.m[n] = sls
}

// handler keeps the index and then marks the Services an event touches
// (both old and new owner of a slice whose label changed), so that the
// sync a mark starts reads the index already changed.
func (x *sliceIndex) handler(mark func(types.NamespacedName)) cache.ResourceEventHandler {
	slim := func(obj any) (*slimSlice, bool) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		sl, ok := obj.(*slimSlice)
		return sl, ok
	}
	marked := handler(mark)
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if sl, ok := slim(obj); ok {
				x.put(sl)
			}
			marked.OnAdd(obj, false)
		},
		UpdateFunc: func(old, cur any) {
			o, okOld := slim(old)
			c, okCur := slim(cur)
			if okOld && (!okCur || o.service != c.service) {
				x.remove(o) // moved to another Service (put replaces in place)
			}
			if okCur {
				x.put(c)
			}
			marked.OnUpdate(old, cur)
		},
		DeleteFunc: func(obj any) {
			if sl, ok := slim(obj); ok {
				x.remove(sl)
			}
			marked.OnDelete(obj)
		},
	}
}

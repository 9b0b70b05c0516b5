package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// fakeAPI serves the Controller's ListerWatchers from client-go's fake
// clientset, the way client-go's typed informers call it (and, like them,
// without watch-list streaming, which the fake does not implement).
type fakeAPI struct{ c *fake.Clientset }

func (f fakeAPI) ListWatch(resource string, tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			switch resource {
			case "services":
				return f.c.CoreV1().Services("").List(ctx, o)
			case "endpointslices":
				return f.c.DiscoveryV1().EndpointSlices("").List(ctx, o)
			case "nodes":
				return f.c.CoreV1().Nodes().List(ctx, o)
			}
			return nil, fmt.Errorf("fakeAPI: no resource %q", resource)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			switch resource {
			case "services":
				return f.c.CoreV1().Services("").Watch(ctx, o)
			case "endpointslices":
				return f.c.DiscoveryV1().EndpointSlices("").Watch(ctx, o)
			case "nodes":
				return f.c.CoreV1().Nodes().Watch(ctx, o)
			}
			return nil, fmt.Errorf("fakeAPI: no resource %q", resource)
		},
	}
	return cache.ToListWatcherWithWatchListSemantics(lw, f.c)
}

// runInformer runs inf until ctx ends; the returned func waits for that.
func runInformer(ctx context.Context, inf cache.SharedIndexInformer) (wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); inf.RunWithContext(ctx) }()
	return func() { <-done }
}

// expireFirstWatch makes client's first watch of resource one the test
// controls (later ones are the fake's own) and returns that watch.
func expireFirstWatch(client *fake.Clientset, resource string) *watch.FakeWatcher {
	first := watch.NewFake()
	watches := 0
	client.PrependWatchReactor(resource, func(clienttesting.Action) (bool, watch.Interface, error) {
		watches++
		if watches == 1 {
			return true, first, nil
		}
		return false, nil, nil
	})
	return first
}

// tombstoneAtRelist deletes gvr namespace/name from client's tracker while
// no watch reports it, expires first (expireFirstWatch) so that the informer
// relists, and returns what the informer's delete handler then got (a
// tombstone's Obj) and the Service the mark handler marked.
func tombstoneAtRelist(t *testing.T, client *fake.Clientset, first *watch.FakeWatcher, gvr schema.GroupVersionResource, ns, name string,
	deleted <-chan any, marked <-chan types.NamespacedName) (any, types.NamespacedName) {
	t.Helper()
	if err := client.Tracker().Delete(gvr, ns, name); err != nil {
		t.Fatal(err)
	}
	first.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old"})
	var obj any
	select {
	case d := <-deleted:
		tomb, ok := d.(cache.DeletedFinalStateUnknown)
		if !ok {
			t.Fatalf("deleted %T, want a tombstone", d)
		}
		obj = tomb.Obj
	case <-time.After(10 * time.Second):
		t.Fatal("no delete after the relist")
	}
	select {
	case n := <-marked:
		return obj, n
	case <-time.After(10 * time.Second):
		t.Fatal("the tombstone marked nothing")
	}
	return nil, types.NamespacedName{}
}

// runMarking adds handler (sending to marked) and sh (the Status handler, or
// one recording deletes) to inf, runs inf until the test ends and waits for its cache. waitMark
// expects the next Service marked to be want.
func runMarking(t *testing.T, inf cache.SharedIndexInformer, handler, sh cache.ResourceEventHandler,
	marked <-chan types.NamespacedName, want types.NamespacedName) (ctx context.Context, waitMark func(what string)) {
	t.Helper()
	reg, err := inf.AddEventHandler(handler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(sh); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(runInformer(ctx, inf))
	t.Cleanup(cancel) // runs first
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced, reg.HasSynced) {
		t.Fatal("cache never synced")
	}
	return ctx, func(what string) {
		t.Helper()
		select {
		case n := <-marked:
			if n != want {
				t.Errorf("%s marked %v", what, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no event", what)
		}
	}
}

// checkTombstone: a tombstone (a delete the watch missed, found at relist)
// of last, a cached slim object of Service want, has last's key, names
// want, and the mark handler (sending to marked) and the Status handler sh
// take it.
func checkTombstone(t *testing.T, last any, key string, want types.NamespacedName,
	marked chan types.NamespacedName, waitMark func(string), sh cache.ResourceEventHandler) {
	t.Helper()
	tomb := cache.DeletedFinalStateUnknown{Key: key, Obj: last}
	if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(tomb); err != nil || k != key {
		t.Errorf("tombstone key %q, %v", k, err)
	}
	if k, err := cache.MetaNamespaceKeyFunc(last); err != nil || k != key {
		t.Errorf("slim object's key %q, %v", k, err)
	}
	if n, ok := serviceOf(tomb); !ok || n != want {
		t.Errorf("serviceOf(tombstone) = %v, %v", n, ok)
	}
	handler(func(n types.NamespacedName) { marked <- n }).OnDelete(tomb)
	waitMark("tombstone")
	sh.OnDelete(tomb) // must not panic
}

package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
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

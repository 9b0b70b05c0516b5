package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// apiWatch times the API path alone, the part of a change's latency that
// no proxy can shorten: a watch on the EndpointSlices, opened from the
// proxy's network namespace through the same relay, notes when it sees
// each slice at each resourceVersion. A change's time to that event is its
// API path (the write, etcd, the watch fan-out); what is left, up to the
// kernel, is the proxy's share (its own watch, its sync, the kernel) plus
// the netlink poll's granularity.
type apiWatch struct {
	mu   sync.Mutex
	seen map[string]time.Time // name@resourceVersion
}

// startAPIWatch watches ns's EndpointSlices from now until ctx is done,
// watching again from where it was when the server ends a watch.
func startAPIWatch(ctx context.Context, cs kubernetes.Interface, ns string) (*apiWatch, error) {
	l, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("list EndpointSlices for the API-path watch: %w", err)
	}
	a := &apiWatch{seen: map[string]time.Time{}}
	rv := l.ResourceVersion
	go func() {
		for ctx.Err() == nil {
			w, err := cs.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchdrive latency: API-path watch: %v\n", err)
				time.Sleep(time.Second)
				continue
			}
			for ev := range w.ResultChan() {
				s, ok := ev.Object.(*discoveryv1.EndpointSlice)
				if !ok {
					continue
				}
				now := time.Now()
				a.mu.Lock()
				a.seen[s.Name+"@"+s.ResourceVersion] = now
				a.mu.Unlock()
				rv = s.ResourceVersion
			}
			w.Stop()
		}
	}()
	return a, nil
}

// since returns the seconds from t0 until the watch saw slice name at
// resourceVersion rv, waiting up to wait for it; -1 if it did not.
func (a *apiWatch) since(t0 time.Time, name, rv string, wait time.Duration) float64 {
	key := name + "@" + rv
	for end := time.Now().Add(wait); ; {
		a.mu.Lock()
		t, ok := a.seen[key]
		a.mu.Unlock()
		if ok {
			return t.Sub(t0).Seconds()
		}
		if time.Now().After(end) {
			return -1
		}
		time.Sleep(time.Millisecond)
	}
}

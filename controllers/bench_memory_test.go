package controllers

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// sandboxSource is the objects of `make bench` (hack/bench.sh): services
// Services, even ones NodePort and odd ones ClusterIP (1.5 virtual servers
// a Service on a node with one address), each with one EndpointSlice of 10
// ready off-node endpoints, every object as the API server serves it
// (served_test.go: defaults, metadata, protobuf), decoded and passed
// through the informers' transform (trim), as the informer caches hold
// them. All are encoded first, then decoded and trimmed one by one, as an
// informer does.
func sandboxSource(services int) *mapSource {
	enc := make([][2][]byte, services)
	for i := range enc {
		svc, sl := sandboxObjects(i)
		enc[i] = [2][]byte{encodeServed(svc), encodeServed(sl)}
	}
	runtime.GC()
	src := newSource()
	for i := range enc {
		t, _ := trim(decodeServed[*corev1.Service](enc[i][0]))
		ts, _ := trim(decodeServed[*discoveryv1.EndpointSlice](enc[i][1]))
		src.putSlim(t.(*slimService), ts.(*slimSlice))
		enc[i] = [2][]byte{}
	}
	return src
}

// sandboxObjects is Service i of sandboxSource and its EndpointSlice, built
// in Go, before they are served.
func sandboxObjects(i int) (*corev1.Service, *discoveryv1.EndpointSlice) {
	name := fmt.Sprintf("svc-%d", i)
	svc := service("default/"+name, addrAt("10.96.0.1", i).String(), tcp("http", 80))
	if i%2 == 0 {
		svc.Spec.Type = corev1.ServiceTypeNodePort
		svc.Spec.Ports[0].NodePort = int32(30000 + i/2)
	}
	eps := make([]string, benchEndpoints)
	for j := range eps {
		eps[j] = addrAt("10.128.0.1", i*benchEndpoints+j).String()
	}
	sl := epSlice("default/"+name+"-1", name, "http", "", 8080, eps...)
	for j := range sl.Endpoints {
		sl.Endpoints[j].NodeName = nil // off-node
	}
	return svc, sl
}

// The live heap after a cold full sync of the `make bench` cluster at 10,000
// Services (15,000 virtual servers, 150,000 real servers) on the fakes,
// split by holder: each figure is what runtime.GC frees when that holder is
// dropped, in this order: the fakes (the kernel's stand-in, not in the
// process in production), the kernel cache, the fragment cache, the desired
// index, the rest of the Reconciler, and the source (the informer caches'
// objects). live-MB is the sum without the fakes: what the process holds;
// peak-MB the largest heap in use during the sync (sampled every
// millisecond), fakes and source included.
//
//	go test -run '^$' -bench LiveHeap10k -benchtime 1x ./controllers/
func BenchmarkLiveHeap10k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		h0 := heapInUse()
		src := sandboxSource(benchServices)
		fk := newFakeKernel()
		r := newTestReconciler(b, fk)
		runtime.GC()
		stop := peakHeap(time.Millisecond)
		b.StartTimer()
		res, err := r.Full(context.Background(), src)
		b.StopTimer()
		peak := float64(stop()-h0) / (1 << 20)
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Plan.Len(); got < benchServices*(3+benchEndpoints) {
			b.Fatalf("plan has %d operations", got)
		}
		res = Result{}
		drop := func(f func()) float64 {
			runtime.GC()
			before := heapInUse()
			f()
			runtime.GC()
			return float64(int64(before)-int64(heapInUse())) / (1 << 20)
		}
		fakes := drop(func() { fk, r.k = nil, Kernel{} })
		cache := drop(func() { r.cache, r.foreign = state.State{}, nil })
		frags := drop(func() { r.frags = newFragCache() })
		index := drop(func() { r.index = desired.NewIndex() })
		rest := drop(func() { r = nil })
		source := drop(func() { src = nil })
		runtime.GC()
		b.ReportMetric(fakes, "fakes-MB")
		b.ReportMetric(cache, "cache-MB")
		b.ReportMetric(frags, "fragcache-MB")
		b.ReportMetric(index, "index-MB")
		b.ReportMetric(rest, "rest-MB")
		b.ReportMetric(source, "source-MB")
		b.ReportMetric(cache+frags+index+rest+source, "live-MB")
		b.ReportMetric(peak, "peak-MB")
		b.ReportMetric(float64(int64(heapInUse())-int64(h0))/(1<<20), "left-MB")
		runtime.KeepAlive(fk)
		runtime.KeepAlive(r)
		runtime.KeepAlive(src)
		b.StartTimer()
	}
}

package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// Scale: the cluster of issue #8, 150,000 Services x 10 endpoints each, all
// distinct (1.5 million real servers). Every ledger and the hairpin set pass
// the 65,536 members kube-proxy's fixed maxelem allows, so the full sync
// succeeds only if the sets grow.
const (
	scaleServices  = 150000
	scaleEndpoints = 10
)

// addrAt is base + n, for building more addresses than fmt's "10.96.%d.%d" can.
func addrAt(base string, n int) netip.Addr {
	b := netip.MustParseAddr(base).As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// scaleSource has services Services with cluster IPs from 10.96.0.1 (a /14)
// and endpoints distinct endpoints each from 10.128.0.1 (a /9).
func scaleSource(services, endpoints int) *mapSource {
	src := newSource()
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		eps := make([]string, endpoints)
		for j := range eps {
			eps[j] = addrAt("10.128.0.1", i*endpoints+j).String()
		}
		src.put(service("default/"+name, addrAt("10.96.0.1", i).String(), tcp("http", 80)),
			epSlice("default/"+name+"-1", name, "http", "", 8080, eps...))
	}
	return src
}

// peakHeap samples HeapInuse until stop is called and returns the largest.
func peakHeap(every time.Duration) (stop func() uint64) {
	var (
		wg   sync.WaitGroup
		peak uint64
		done = make(chan struct{})
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// BenchmarkFullColdStartScale: a full sync of 150,000 Services x 10 endpoints
// into empty fakes succeeds, growing the ClusterIP ledger and the hairpin set
// past 65,536. Reports the peak heap in use (sampled every 250 ms) and the
// sets' sizes. Run with -benchtime=1x: one op takes tens of seconds.
func BenchmarkFullColdStartScale(b *testing.B) {
	src := scaleSource(scaleServices, scaleEndpoints)
	runtime.GC()
	var peak uint64
	var fk *fakeKernel
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fk = newFakeKernel()
		r := newTestReconciler(b, fk)
		runtime.GC()
		stop := peakHeap(250 * time.Millisecond)
		b.StartTimer()
		res, err := r.Full(context.Background(), src)
		b.StopTimer()
		peak = max(peak, stop())
		if err != nil {
			b.Fatal(err)
		}
		// Per Service: a ledger member, a cluster-IP set member, an
		// address, a virtual server and its real servers; per endpoint a
		// hairpin member.
		if got, want := res.Plan.Len(), scaleServices*(4+scaleEndpoints)+scaleServices*scaleEndpoints; got != want {
			b.Fatalf("plan has %d operations, want %d", got, want)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	names := desired.SetsOf("inet")
	for _, s := range []string{names.ClusterIP, names.Hairpin} {
		info, err := fk.sets.Info(s)
		if err != nil {
			b.Fatal(err)
		}
		if !ipset.Fits(info.Set, info.Size) || info.Size <= ipset.MaxElem && s == names.Hairpin {
			b.Fatalf("set %s: %+v", s, info)
		}
		b.Logf("%s: %d members, maxelem %d", s, info.Size, info.MaxElem)
	}
}

// BenchmarkFullResyncScale: the periodic full resync of the same cluster,
// nothing changed: one List per set, one IPVS dump, no write.
func BenchmarkFullResyncScale(b *testing.B) {
	src := scaleSource(scaleServices, scaleEndpoints)
	fk := newFakeKernel()
	r := newTestReconciler(b, fk)
	if _, err := r.Full(context.Background(), src); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var peak uint64
	b.ReportAllocs()
	for b.Loop() {
		stop := peakHeap(250 * time.Millisecond)
		res, err := r.Full(context.Background(), src)
		peak = max(peak, stop())
		if err != nil {
			b.Fatal(err)
		}
		if !res.Plan.Empty() {
			b.Fatalf("plan of %d operations", res.Plan.Len())
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

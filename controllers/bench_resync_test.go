package controllers

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

// Benchmarks that guard issue #7: steady state costs nothing, changes never
// wait behind periodic work, and memory stays bounded at 100k Services.
//
//	go test -run '^$' -bench 'Periodic|DuringResync|Memory100k' -benchmem ./controllers/

// listerSource lists Services unsorted, as the informer's lister does
// (mapSource sorts them by name, which would dominate what is measured).
type listerSource struct{ *mapSource }

func (s listerSource) Services() []*slimService {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*slimService, 0, len(s.svcs))
	for _, svc := range s.svcs {
		out = append(out, svc)
	}
	return out
}

// One SyncPeriod (30 s) of idle periodic work at 10,000 Services: one
// stepped refresh and 30 audit steps at the default pace (auditPeriod 2h). What a
// full resync did every 30 s (BenchmarkFullResyncNoChange) is what this
// replaces; kernel-reads/op counts the kernel requests (dumps) it made.
func BenchmarkPeriodicIdle(b *testing.B) {
	src := listerSource{benchSource(benchServices)}
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.SyncPeriod, cfg.AuditPeriod = v1alpha1.Defaults().SyncPeriod, v1alpha1.Defaults().AuditPeriod
	r := NewReconciler(fk.Kernel, cfg)
	ctx := context.Background()
	if _, err := r.Full(ctx, src); err != nil {
		b.Fatal(err)
	}
	steps := int(v1alpha1.Defaults().AuditPeriod / auditStepEvery)
	perPeriod := int(30 * time.Second / auditStepEvery)
	fk.resetCalls()
	runtime.GC()
	b.ReportAllocs()
	cpu0 := cpuNanos()
	for b.Loop() {
		for more := true; more; {
			res, m, err := r.RefreshStep(ctx, src, refreshStepServices)
			if err != nil || !res.Plan.Empty() {
				b.Fatalf("refresh: %v\n%s", err, res.Plan)
			}
			more = m
		}
		for range perPeriod {
			res, _, err := r.AuditStep(ctx, steps)
			if err != nil || res.Drift != 0 {
				b.Fatalf("audit: %v, drift %d", err, res.Drift)
			}
		}
	}
	c, s := fk.ipvs.Calls(), fk.sets.Calls()
	if c.Mutations() != 0 || c.Dump != 0 {
		b.Fatalf("idle periodic work dumped or changed IPVS: %+v", c)
	}
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(c.Services+c.RealServers+s.List)/float64(b.N), "kernel-reads/op")
}

// cpuNanos is the process's CPU time (user+system, all threads, GC
// included): far less sensitive to a loaded machine than ns/op.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// One change is requested while periodic work runs back to back (the worst
// case: the Runner is always busy with a Task); the latency is from the
// request to the change being applied. Before issue #7 the periodic work was
// a full resync that the change waited behind; now it is one bounded step.
// The figures are p50-ms and p99-ms; 1k vs 10k shows it flat in N.
func BenchmarkIncrementalDuringResync(b *testing.B) {
	for _, services := range []int{1000, benchServices} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			src := listerSource{benchSource(services)}
			fk := newFakeKernel()
			r := newTestReconciler(b, fk)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			var (
				mu      sync.Mutex
				pending []types.NamespacedName
				applied = make(chan struct{}, 1)
			)
			ru := NewRunner(0, 0, func(ctx context.Context, full bool) error {
				mu.Lock()
				names := pending
				pending = nil
				mu.Unlock()
				var err error
				if full {
					_, err = r.Full(ctx, src)
				} else if len(names) > 0 {
					_, err = r.Incremental(ctx, src, names)
				}
				if len(names) > 0 {
					applied <- struct{}{}
				}
				return err
			})
			steps := int(v1alpha1.Defaults().AuditPeriod / auditStepEvery)
			ru.Tasks = []Task{
				{Name: "refresh", Every: 0, Run: func(ctx context.Context) (bool, error) {
					_, more, err := r.RefreshStep(ctx, src, refreshStepServices)
					return more, err
				}},
				{Name: "audit", Every: 0, Run: func(ctx context.Context) (bool, error) {
					_, _, err := r.AuditStep(ctx, steps)
					return false, err
				}},
			}
			var fulls atomic.Int32
			inner := ru.Sync
			ru.Sync = func(ctx context.Context, full bool) error {
				if full {
					fulls.Add(1)
				}
				return inner(ctx, full)
			}
			done := make(chan struct{})
			go func() { defer close(done); ru.Run(ctx) }()
			// Wait for the first full sync.
			ru.Request()
			mu.Lock()
			pending = []types.NamespacedName{{Namespace: "default", Name: "svc-0"}}
			mu.Unlock()
			<-applied

			i := services / 2
			n := types.NamespacedName{Namespace: "default", Name: fmt.Sprintf("svc-%d", i)}
			// Slim once, as the informer's transform does on an update.
			versions := [2]*slimSlice{slimOf(benchSlice(services, i, 1)), slimOf(benchSlice(services, i, 0))}
			var lat []time.Duration
			k := 0
			b.ReportAllocs()
			for b.Loop() {
				src.setSlim(n, versions[k%2])
				k++
				start := time.Now()
				mu.Lock()
				pending = append(pending, n)
				mu.Unlock()
				ru.Request()
				<-applied
				lat = append(lat, time.Since(start))
			}
			cancel()
			<-done
			if fulls.Load() != 1 {
				b.Fatalf("%d full syncs, want only the first", fulls.Load())
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)*9/10])/1e6, "p90-ms")
		})
	}
}

// bigSource has services Services × 10 endpoints, half IPv4 and half IPv6
// (each family's sets hold at most 65,536 members, as in the kernel), the
// endpoints of each family drawn from 30,000 pods. Every object is passed
// through the informers' transform (trim), as the informer caches hold it.
func bigSource(services int) *mapSource {
	const pods = 30000
	src := newSource()
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		h := i / 2
		eps := make([]string, benchEndpoints)
		ip := fmt.Sprintf("10.%d.%d.%d", 96+h/62500, h/250%250, h%250+1)
		for j := range eps {
			eps[j] = podIP((h*benchEndpoints + j) % pods)
		}
		sl := epSlice("default/"+name+"-1", name, "http", "", 8080, eps...)
		if i%2 == 1 {
			ip = fmt.Sprintf("fd00:96::%x", h+1)
			for j := range eps {
				sl.Endpoints[j].Addresses = []string{fmt.Sprintf("fd00:244::%x", (h*benchEndpoints+j)%pods+1)}
			}
			sl.AddressType = discoveryv1.AddressTypeIPv6
		}
		svc, _ := trim(service("default/"+name, ip, tcp("http", 80)))
		tsl, _ := trim(sl)
		src.putSlim(svc.(*slimService), tsl.(*slimSlice))
	}
	return src
}

// A cold full sync of 100,000 Services × 10 endpoints into empty fakes:
// peak-heap-MB is the largest heap in use seen while it ran (sampled every
// 5 ms; the source and the fakes included), retained-MB the heap in use
// afterwards beyond the source: the reconciler (index, fragment cache,
// kernel cache) and the fakes holding the programmed kernel; fakes-MB is
// the fakes' part of it (what dropping them frees), which the process does
// not hold in production, but which is in the peak. The source lists its
// Services unsorted, as the informer's lister does.
func BenchmarkFullSyncMemory100k(b *testing.B) {
	const services = 100000
	src := listerSource{bigSource(services)}
	for b.Loop() {
		b.StopTimer()
		fk := newFakeKernel()
		runtime.GC()
		base := heapInUse()
		stop := make(chan struct{})
		peak := make(chan uint64)
		go func() {
			var p, written uint64
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					peak <- p
					return
				case <-t.C:
					p = max(p, heapInUse())
					if l := liveHeap(); l > written+written/20 {
						writePeakProfile(b)
						written = l
					}
				}
			}
		}()
		r := newTestReconciler(b, fk)
		b.StartTimer()
		res, err := r.Full(context.Background(), src)
		b.StopTimer()
		close(stop)
		p := <-peak
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Plan.Len(); got < services*(3+benchEndpoints) {
			b.Fatalf("plan has %d operations", got)
		}
		res = Result{}
		runtime.GC()
		withR := heapInUse()
		fk, r.k = nil, Kernel{}
		runtime.GC()
		fakes := int64(withR) - int64(heapInUse())
		runtime.KeepAlive(r)
		runtime.KeepAlive(fk)
		b.ReportMetric(float64(p)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(withR-base)/(1<<20), "retained-MB")
		b.ReportMetric(float64(fakes)/(1<<20), "fakes-MB")
		b.StartTimer()
	}
}

// peakProfile names a file that BenchmarkFullSyncMemory100k overwrites
// with a heap profile each time the heap live after a GC grows 5 % past the
// last one written: the largest live heap, which the peak (about twice
// it at GOGC=100) follows.
//
//	go test -run '^$' -bench FullSyncMemory100k ./controllers/ -args -peakprofile /tmp/peak.out
//	go tool pprof -sample_index=inuse_space controllers.test /tmp/peak.out
var peakProfile = flag.String("peakprofile", "", "write a heap profile near the peak heap of BenchmarkFullSyncMemory100k to this file")

func writePeakProfile(b *testing.B) {
	if *peakProfile == "" {
		return
	}
	f, err := os.Create(*peakProfile)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Error(err)
	}
}

// liveHeap is the heap found live by the last GC.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

package controllers

import (
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// What one trimmed Service (a slimService) and one trimmed EndpointSlice (a slimSlice) (10 endpoints) of
// the `make bench` cluster cost in the informer caches, by field group.
// Method: n pairs of sandboxObjects are encoded as the API server serves
// them (served_test.go), then decoded and trimmed one by one and kept,
// runtime.GC runs, and the live heap
// (/gc/heap/live:bytes: marked objects at their size class) over the
// objects is the total; then each group is cleared on every kept object in
// turn and what the next GC frees is that group's cost, in bytes per
// object. What is shared (interned strings, shared pointers) frees nothing
// and so costs nothing here; a string in a 16-byte tiny block shared with a
// live neighbour is counted with the group that frees the block last.
// "struct" is the object itself (its pointer dropped last).
//
//	go test -run '^$' -bench TrimmedObjectBytes -benchtime 1x ./controllers/
func BenchmarkTrimmedObjectBytes(b *testing.B) {
	const n = 4000
	type group[T any] struct {
		name  string
		clear func(T)
	}
	// The Service as the cache holds it: slim (slimservice.go).
	svcGroups := []group[*slimService]{
		{"meta", func(s *slimService) { s.Name, s.Namespace, s.UID, s.ResourceVersion = "", "", "", "" }},
		{"rare", func(s *slimService) { s.rare = nil }},
		{"ports", func(s *slimService) { s.ports = nil }},
		{"cluster-ips", func(s *slimService) { s.clusterIPs = nil }},
	}
	// The EndpointSlice as the cache holds it: slim (slimslice.go).
	sliceGroups := []group[*slimSlice]{
		{"meta", func(s *slimSlice) { s.Name, s.Namespace, s.UID, s.ResourceVersion = "", "", "", "" }},
		{"service", func(s *slimSlice) { s.service = "" }},
		{"ports", func(s *slimSlice) { s.ports = nil }},
		{"address-type", func(s *slimSlice) { s.addressType = "" }},
		{"raw-addresses", func(s *slimSlice) { s.raw = nil }},
		{"node+hints", func(s *slimSlice) {
			for i := range s.eps {
				s.eps[i].node = nil
			}
			s.hints = nil
		}},
		{"endpoints", func(s *slimSlice) { s.eps = nil }},
	}
	for b.Loop() {
		b.StopTimer()
		svcs := make([]*slimService, n)
		sls := make([]*slimSlice, n)
		enc := make([][2][]byte, n)
		for i := range n {
			svc, sl := sandboxObjects(i)
			enc[i] = [2][]byte{encodeServed(svc), encodeServed(sl)}
		}
		runtime.GC()
		var m1, m2 runtime.MemStats
		for i := range n {
			t, _ := trim(decodeServed[*corev1.Service](enc[i][0]))
			ts, _ := trim(decodeServed[*discoveryv1.EndpointSlice](enc[i][1]))
			svcs[i], sls[i] = t.(*slimService), ts.(*slimSlice)
			enc[i] = [2][]byte{}
		}
		total := liveHeapAfterGC()
		runtime.ReadMemStats(&m1)
		last := total
		drop := func(f func()) float64 {
			f()
			now := liveHeapAfterGC()
			freed := float64(int64(last)-int64(now)) / n
			last = now
			return freed
		}
		svcTotal := 0.0
		for _, g := range svcGroups {
			freed := drop(func() {
				for _, s := range svcs {
					g.clear(s)
				}
			})
			svcTotal += freed
			b.ReportMetric(freed, "svc-"+g.name+"-B")
		}
		freed := drop(func() { clear(svcs) })
		svcTotal += freed
		b.ReportMetric(freed, "svc-struct-B")
		b.ReportMetric(svcTotal, "svc-B")
		slTotal := 0.0
		for _, g := range sliceGroups {
			freed := drop(func() {
				for _, s := range sls {
					g.clear(s)
				}
			})
			slTotal += freed
			b.ReportMetric(freed, "slice-"+g.name+"-B")
		}
		freed = drop(func() { clear(sls) })
		slTotal += freed
		b.ReportMetric(freed, "slice-struct-B")
		b.ReportMetric(slTotal, "slice-B")
		b.ReportMetric(svcTotal+slTotal, "both-B")
		// The heap in use (whole pages) that dropping the objects frees:
		// their live bytes plus the pages the decoder's garbage left
		// partly used around them.
		runtime.GC()
		runtime.ReadMemStats(&m2)
		b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m2.HeapInuse))/n, "both-inuse-B")
		runtime.KeepAlive(svcs)
		runtime.KeepAlive(sls)
		b.StartTimer()
	}
}

// liveHeapAfterGC runs a GC and returns the heap it found live.
func liveHeapAfterGC() uint64 {
	runtime.GC()
	return liveHeap()
}

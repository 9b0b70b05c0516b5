package controllers

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// After a sync the kernel cache holds one copy of the real servers, the
// index's; an incremental sync that changes a Service's endpoints changes
// the cache (and the kernel) without touching the index's old fragment.
func TestCacheSharesRealServersWithIndex(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := manyServices(20)
	mustFull(t, r, src)
	if len(r.cache.Services) == 0 {
		t.Fatal("empty cache")
	}
	for k, svc := range r.cache.Services {
		if want := r.index.Service(k); want == nil || !svc.RealServers.Shares(want.RealServers) {
			t.Errorf("%s: cache keeps its own real servers", k)
		}
	}

	k := mustKey("tcp 10.96.0.8:80")
	old := r.index.Service(k)
	oldRS := old.RealServers.Clone()
	n := nsn("default/svc-7")
	src.setSlices(n, epSlice("default/svc-7-1", "svc-7", "http", "", 8080, "10.244.7.1", "10.244.7.3", "10.244.7.9"))
	mustIncremental(t, r, src, n)
	if !old.RealServers.Equal(oldRS) {
		t.Errorf("the replaced fragment changed under the cache: %v", old.RealServers)
	}
	if want := r.index.Service(k); !r.cache.Services[k].RealServers.Shares(want.RealServers) {
		t.Error("changed virtual server not shared again")
	}
	// A change the cache makes on its own (a real server deleted by hand
	// and repaired) copies first.
	op := state.Op{Kind: state.DeleteRealServer, Service: ipvs.VirtualServer{Key: k}, RealServer: rs("10.244.7.9:8080")}
	want := r.index.Service(k).RealServers.Clone()
	op.ApplyTo(&r.cache)
	if !r.index.Service(k).RealServers.Equal(want) {
		t.Error("a cache change went into the index")
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))

	// A full resync re-reads the kernel: what equals the index is shared
	// as it is read, nothing is copied, and a real server changed behind
	// our back (the cache's own list, not shared) is repaired.
	mustFull(t, r, src)
	for k, svc := range r.cache.Services {
		if want := r.index.Service(k); want == nil || !svc.RealServers.Shares(want.RealServers) {
			t.Errorf("%s: not shared after a resync", k)
		}
	}
	if err := fk.ipvs.DeleteRealServer(k, rs("10.244.7.9:8080").RealServerKey); err != nil {
		t.Fatal(err)
	}
	mustFull(t, r, src)
	if want := r.index.Service(k); want.RealServers.Len() != 3 || !r.cache.Services[k].RealServers.Shares(want.RealServers) {
		t.Errorf("after the repair: index %v", want.RealServers)
	}
	assertText(t, "kernel vs oracle after the repair", fk.dump(), oracle(t, src))
}

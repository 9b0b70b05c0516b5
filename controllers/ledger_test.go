package controllers

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
)

// flush empties set as `ipset flush` would (a missing set stays missing).
func flush(t *testing.T, fk *fakeKernel, set string) {
	t.Helper()
	es, err := fk.sets.List(set)
	if errors.Is(err, ipset.ErrNotFound) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := fk.sets.Del(set, e); err != nil {
			t.Fatal(err)
		}
	}
}

// A flushed or destroyed ledger set is repaired within one full sync: our
// virtual servers are re-adopted in place (no delete, no re-create: no
// dropped connection), counted, and the kernel ends as the oracle says.
func TestLedgerRepair(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool // a new process runs the repairing sync
		lose    func(t *testing.T, fk *fakeKernel)
		want    int // virtual servers re-adopted
	}{
		{"NodePort set flushed", false, func(t *testing.T, fk *fakeKernel) { flush(t, fk, ledger.NodePortSet4) }, 1},
		{"ClusterIP set flushed", false, func(t *testing.T, fk *fakeKernel) { flush(t, fk, ledger.ClusterIPSet4) }, 2},
		{"every set flushed", false, func(t *testing.T, fk *fakeKernel) {
			for _, s := range desired.AllSets() {
				flush(t, fk, s.Name)
			}
		}, 3},
		{"every set destroyed", false, func(t *testing.T, fk *fakeKernel) {
			for _, s := range desired.AllSets() {
				if err := fk.sets.Destroy(s.Name); err != nil {
					t.Fatal(err)
				}
			}
		}, 3},
		// A restarted process cannot tell a flushed set from an empty one;
		// the ClusterIP virtual servers sit on our dummy link and are ours.
		{"ClusterIP set flushed, then a restart", true, func(t *testing.T, fk *fakeKernel) { flush(t, fk, ledger.ClusterIPSet4) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKernel()
			r := newTestReconciler(t, fk)
			src := webAndDNS()
			mustFull(t, r, src)
			tc.lose(t, fk)
			if tc.restart {
				r = newTestReconciler(t, fk)
			}
			fk.resetCalls()
			res := mustFull(t, r, src)
			if res.Repaired != tc.want {
				t.Errorf("Repaired = %d, want %d", res.Repaired, tc.want)
			}
			if c := fk.ipvs.Calls(); c.Mutations() != 0 {
				t.Errorf("ipvs calls = %+v, want none: re-adopted in place", c)
			}
			if c := fk.links.Calls(); c.DelAddress != 0 {
				t.Errorf("netif calls = %+v", c)
			}
			for n, p := range res.Problems {
				if p != nil {
					t.Errorf("problems of %s: %v", n, p)
				}
			}
			assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
			assertCacheTruthful(t, r)
			m := fk.resetCalls()
			if res := mustFull(t, r, src); res.Repaired != 0 {
				t.Errorf("second full sync re-adopted %d", res.Repaired)
			}
			assertNoMutations(t, fk, m)
		})
	}
}

// A restarted process cannot tell destroyed ledger sets from a first start:
// it re-adopts the ClusterIP virtual servers (on our dummy link) and leaves
// the NodePort one alone as foreign, with a conflict problem, never deleting it.
func TestLedgerRepairAfterRestartOnlyOnDummyLink(t *testing.T) {
	fk := newFakeKernel()
	src := webAndDNS()
	mustFull(t, newTestReconciler(t, fk), src)
	for _, s := range desired.AllSets() {
		if err := fk.sets.Destroy(s.Name); err != nil {
			t.Fatal(err)
		}
	}
	r := newTestReconciler(t, fk)
	fk.resetCalls()
	res := mustFull(t, r, src)
	if res.Repaired != 2 {
		t.Errorf("Repaired = %d, want 2", res.Repaired)
	}
	if c := fk.ipvs.Calls(); c.Mutations() != 0 {
		t.Errorf("ipvs calls = %+v", c)
	}
	if got := problemsOf(res, "default/web"); !strings.Contains(got, "-t 192.168.1.10:30080 already exists") {
		t.Errorf("problems of web = %q", got)
	}
	assertText(t, "ipvsadm -Sn", fk.ipvs.String(), webAndDNSIPVS)
}

// A re-adopted virtual server keeps its connections and has its real
// servers corrected by the normal diff.
func TestLedgerRepairDiffsRealServers(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	flush(t, fk, ledger.NodePortSet4)
	n := nsn("default/web")
	src.setSlices(n, epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.4.4"))
	fk.resetCalls()
	res := mustFull(t, r, src)
	if res.Repaired != 1 {
		t.Errorf("Repaired = %d", res.Repaired)
	}
	if c := fk.ipvs.Calls(); c.AddVirtualServer != 0 || c.DeleteVirtualServer != 0 || c.AddRealServer != 2 || c.DeleteRealServer != 4 {
		t.Errorf("ipvs calls = %+v", c)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

// A foreign virtual server that merely matches a desired one is not taken
// over while the ledger is intact: not a NodePort one, not one off our
// dummy link.
func TestLedgerRepairStealsNothing(t *testing.T) {
	for _, k := range []string{"tcp 192.168.1.10:30080", "tcp 10.96.0.10:80"} {
		t.Run(k, func(t *testing.T) {
			fk := newFakeKernel()
			key := mustKey(k)
			if err := fk.ipvs.AddVirtualServer(ipvs.VirtualServer{Key: key, Scheduler: "rr"}); err != nil {
				t.Fatal(err)
			}
			r := newTestReconciler(t, fk)
			src := webAndDNS()
			fk.resetCalls()
			res := mustFull(t, r, src)
			if res.Repaired != 0 {
				t.Errorf("Repaired = %d", res.Repaired)
			}
			if got := problemsOf(res, "default/web"); !strings.Contains(got, "already exists and was not created by ipvs-proxy") {
				t.Errorf("problems of web = %q", got)
			}
			if strings.Contains(fk.members(), key.Address.String()+",tcp:"+k[strings.LastIndex(k, ":")+1:]) {
				t.Errorf("foreign %s recorded as ours:\n%s", key, fk.members())
			}
			if c := fk.ipvs.Calls(); len(c.Touched) != 0 && c.Touched[0] == key {
				t.Errorf("foreign %s touched", key)
			}
			for _, tk := range fk.ipvs.Calls().Touched {
				if tk == key {
					t.Errorf("foreign %s touched", key)
				}
			}
		})
	}
}

// Loss is judged per member: a flushed set that an incremental sync has
// written to since is still repaired by the next full sync.
func TestLedgerRepairAfterIncrementalWrite(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	flush(t, fk, ledger.NodePortSet4)
	other := src.put(service("default/other", "10.96.0.20", port("http", "", 80, 30090)),
		epSlice("default/other-1", "other", "http", "", 8080, "10.244.9.9"))
	mustIncremental(t, r, src, other)
	if !strings.Contains(fk.members(), "IPVS-PROXY-NODE-PORT 192.168.1.10,tcp:30090") {
		t.Fatalf("incremental sync did not write the NodePort set:\n%s", fk.members())
	}
	fk.resetCalls()
	res := mustFull(t, r, src)
	if res.Repaired != 1 {
		t.Errorf("Repaired = %d, want 1 (web's NodePort virtual server)", res.Repaired)
	}
	if c := fk.ipvs.Calls(); c.Mutations() != 0 {
		t.Errorf("ipvs calls = %+v", c)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

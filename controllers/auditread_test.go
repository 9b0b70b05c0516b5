package controllers

import (
	"context"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// A read (the host's) during which an apply wrote the kernel is thrown
// away and made again; after auditStaleMax in a row the step reads in the
// loop.
func TestAuditStaleReadThrownAway(t *testing.T) {
	_, r, src := auditFixture(t, true)
	change := func(i int) { // an incremental sync that writes the kernel
		t.Helper()
		if i%2 == 1 {
			setWeb(t, r, src, "10.244.1.1", "10.244.2.2", "10.244.3.3")
		} else {
			setWeb(t, r, src, "10.244.1.1", "10.244.2.2")
		}
	}
	host := len(desired.AllSets())
	auditTo(t, r, host) // the sets
	for i := range auditStaleMax {
		if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if r.audit.read == nil || r.audit.phase != host {
			t.Fatalf("step %d: read under way %v, phase %d: want a read of the host", i, r.audit.read != nil, r.audit.phase)
		}
		<-r.audit.read.done
		change(i)
	}
	// The read is out of date for the auditStaleMax-th time: made in the step.
	if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if r.audit.read != nil || r.audit.phase != host+1 {
		t.Fatalf("after %d stale reads: read under way %v, phase %d: want the host read in the step", auditStaleMax, r.audit.read != nil, r.audit.phase)
	}
}

// A set's read stays good through applies: a member an apply changed
// while the set was being read is left to the cache, whichever side of the
// read the change fell on, and nothing else is called drift.
func TestAuditSetReadSurvivesApplies(t *testing.T) {
	fk, r, src := auditFixture(t, true)
	want := fk.dump()
	web := func(eps ...string) { t.Helper(); setWeb(t, r, src, eps...) }
	hairpin := slices.IndexFunc(desired.AllSets(), func(s ipset.Set) bool { return s.Name == "IPVS-PROXY-HAIRPIN" })
	auditTo(t, r, hairpin)
	// The hairpin set's read begins (the cache's members noted); then an
	// endpoint is added and its member listed by the read, then removed
	// again before the compare: without the note, the listed member would
	// count as drift.
	s := desired.AllSets()[hairpin]
	read := r.readSet(s.Name)
	web("10.244.1.1", "10.244.2.2", "10.244.3.3", "10.244.4.4")
	v, err := read()
	web("10.244.1.1", "10.244.2.2", "10.244.3.3")
	d, _ := v.(setDiff)
	if len(d.kernelOnly) != 1 {
		t.Fatalf("the read found %d members the cache had not noted, want the added one", len(d.kernelOnly))
	}
	sc, err := r.auditSetFrom(s, d, err)
	if err != nil || len(sc.Members) != 0 {
		t.Errorf("compare: err %v, drift %v: want none", err, sc.Members)
	}
	// Through the steps, with applies between the read's start and its
	// compare: the read is used, not thrown away, and finds nothing.
	r.audit = auditState{}
	for r.audit.phase <= hairpin {
		if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if p := r.audit.read; p != nil {
			<-p.done
			web("10.244.1.1", "10.244.2.2", "10.244.3.3", "10.244.5.5")
			web("10.244.1.1", "10.244.2.2", "10.244.3.3")
			if res, _, err := r.AuditStep(context.Background(), 1); err != nil || res.Drift != 0 {
				t.Fatalf("phase %d: err %v, drift %d: want the read compared, no drift", r.audit.phase, err, res.Drift)
			}
		}
	}
	assertText(t, "kernel", fk.dump(), want)
	assertCacheTruthful(t, r)
}

// auditFixture is webAndDNS fully synced into fakes, the audit's large
// reads off the loop or in the step.
func auditFixture(t *testing.T, async bool) (*fakeKernel, *Reconciler, *mapSource) {
	t.Helper()
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	r.asyncAudit = async
	src := webAndDNS()
	mustFull(t, r, src)
	return fk, r, src
}

// setWeb gives web these endpoints through an incremental sync that must
// write the kernel.
func setWeb(t *testing.T, r *Reconciler, src *mapSource, eps ...string) {
	t.Helper()
	src.setSlices(nsn("default/web"), epSlice("default/web-1", "web", "http", "", 8080, eps...))
	if res := mustIncremental(t, r, src, nsn("default/web")); res.Plan.Len() == 0 {
		t.Fatalf("setting web's endpoints to %v wrote nothing", eps)
	}
}

// auditTo steps the audit until it is at phase, waiting for each read
// under way as the next step a second later would.
func auditTo(t *testing.T, r *Reconciler, phase int) {
	t.Helper()
	for r.audit.phase < phase {
		if p := r.audit.read; p != nil {
			<-p.done
		}
		if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
}

package controllers

import (
	"context"
	"testing"
)

// A read during which an apply wrote the kernel is thrown away and made
// again; after auditStaleMax in a row the step reads in the loop.
func TestAuditStaleReadThrownAway(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	r.asyncAudit = true
	src := webAndDNS()
	mustFull(t, r, src)
	change := func(i int) { // an incremental sync that writes the kernel
		t.Helper()
		eps := []string{"10.244.1.1", "10.244.2.2"}
		if i%2 == 1 {
			eps = append(eps, "10.244.3.3")
		}
		src.setSlices(nsn("default/web"), epSlice("default/web-1", "web", "http", "", 8080, eps...))
		if res := mustIncremental(t, r, src, nsn("default/web")); res.Plan.Len() == 0 {
			t.Fatalf("change %d wrote nothing", i)
		}
	}
	for i := range auditStaleMax {
		if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if r.audit.read == nil || r.audit.phase != 0 {
			t.Fatalf("step %d: read under way %v, phase %d: want a read of the first set", i, r.audit.read != nil, r.audit.phase)
		}
		<-r.audit.read.done
		change(i)
	}
	// The read is out of date for the auditStaleMax-th time: made in the step.
	if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if r.audit.read != nil || r.audit.phase != 1 {
		t.Fatalf("after %d stale reads: read under way %v, phase %d: want the set read in the step", auditStaleMax, r.audit.read != nil, r.audit.phase)
	}
}

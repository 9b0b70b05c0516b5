package controllers

import (
	"context"
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// With its large reads off the loop, the audit finds and repairs what it
// did before, in as many reads; each read's step returns at once and the
// next one compares.
func TestAuditReadsOffTheLoopRepairDrift(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	r.asyncAudit = true
	src := webAndDNS()
	mustFull(t, r, src)
	want := fk.dump()
	web := mustKey("tcp 10.96.0.10:80")
	for _, err := range []error{
		fk.ipvs.DeleteRealServer(web, rs("10.244.1.1:8080").RealServerKey),
		fk.ipvs.DeleteVirtualServer(mustKey("udp 10.96.0.53:53")),
		fk.links.DelAddress(dummy, netip.MustParseAddr("10.96.0.53")),
		fk.sets.Del("IPVS-PROXY-HAIRPIN", ipset.Entry{IP: netip.MustParseAddr("10.244.3.3"), Protocol: "tcp", Port: 8080, IP2: netip.MustParseAddr("10.244.3.3")}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	fk.rules.Bury(rules.IPv4, "nat", "PREROUTING") // someone's rule above our jump
	applies := fk.rules.Applies()
	fk.resetCalls()
	res, done, err := r.AuditStep(context.Background(), 1)
	if err != nil || done || res.Drift != 0 || r.audit.read == nil || r.audit.phase != 0 {
		t.Fatalf("first step: err %v, done %v, drift %d, read under way %v, phase %d: want the read started and nothing else",
			err, done, res.Drift, r.audit.read != nil, r.audit.phase)
	}
	drift, repairs, _ := auditRound(t, r, 1)
	if drift != 4 || repairs != 5 { // member, address, dns deleted, web's real server; dns + its real server back
		t.Errorf("drift %d, repairs %d, want 4 and 5", drift, repairs)
	}
	assertText(t, "kernel after the audit", fk.dump(), want)
	assertCacheTruthful(t, r)
	if fk.rules.Applies() != applies+1 {
		t.Errorf("rules applied %d times by the audit, want once (the buried jump, read off the loop)", fk.rules.Applies()-applies)
	}
	if c := fk.ipvs.Calls(); c.Services != 1 {
		t.Errorf("virtual-server lists: %d, want 1", c.Services)
	}
}

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

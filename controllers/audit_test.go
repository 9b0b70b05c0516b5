package controllers

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// auditRound runs AuditStep until a round is done and returns the drift
// found and the repairs made. steps is what a round should take. With the
// large reads off the loop (asyncAudit), it waits for the read under way
// between steps, as the next step a second later would.
func auditRound(t *testing.T, r *Reconciler, steps int) (drift, repairs, calls int) {
	t.Helper()
	for calls < 1000 {
		if p := r.audit.read; p != nil {
			<-p.done
		}
		res, done, err := r.AuditStep(context.Background(), steps)
		calls++
		if err != nil {
			t.Fatalf("AuditStep %d: %v", calls, err)
		}
		drift += res.Drift
		repairs += res.Plan.Len()
		if done {
			return drift, repairs, calls
		}
	}
	t.Fatal("audit round never finished")
	return
}

// 2. With nothing drifted, a round reads the kernel once (each set, the
// addresses, the virtual-server list, each of our virtual servers' real
// servers), never dumps IPVS whole and writes nothing.
func TestAuditNoDriftReadsOnceWritesNothing(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	mustFull(t, r, webAndDNS())
	m := fk.resetCalls()
	drift, repairs, _ := auditRound(t, r, 1)
	if drift != 0 || repairs != 0 {
		t.Errorf("drift %d, repairs %d on an undisturbed kernel", drift, repairs)
	}
	assertNoMutations(t, fk, m)
	c := fk.ipvs.Calls()
	if c.Dump != 0 || c.Services != 1 || c.RealServers != 3 {
		t.Errorf("ipvs reads: %+v, want 1 service list and 3 real-server dumps", c)
	}
	if c := fk.sets.Calls(); c.List != len(desired.AllSets()) {
		t.Errorf("ipset lists: %d, want one per set (%d)", c.List, len(desired.AllSets()))
	}
}

// 2. Drift of every kind (a real server deleted, one added, a weight and a
// scheduler changed, a virtual server deleted, an address and a ledger
// member removed, a stranger's member added to a set of ours) is found by
// one round, counted and repaired, and the kernel ends where a fresh full
// sync would put it: alike with the large reads, and the sets' compare, in
// the step or off the loop.
func TestAuditRepairsDrift(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "in the step", true: "off the loop"}[async], func(t *testing.T) {
			fk, r, _ := auditFixture(t, async)
			want := fk.dump()

			web := mustKey("tcp 10.96.0.10:80")
			np := mustKey("tcp 192.168.1.10:30080")
			dns := mustKey("udp 10.96.0.53:53")
			for _, err := range []error{
				fk.ipvs.DeleteRealServer(web, rs("10.244.1.1:8080").RealServerKey),
				fk.ipvs.AddRealServer(web, rs("10.244.9.9:8080")),
				fk.ipvs.UpdateRealServer(np, ipvs.RealServer{RealServerKey: rs("10.244.2.2:8080").RealServerKey, Weight: 5}),
				fk.ipvs.UpdateVirtualServer(ipvs.VirtualServer{Key: np, Scheduler: "lc"}),
				fk.ipvs.DeleteVirtualServer(dns),
				fk.links.DelAddress(dummy, netip.MustParseAddr("10.96.0.53")),
				fk.sets.Del("IPVS-PROXY-HAIRPIN", ipset.Entry{IP: netip.MustParseAddr("10.244.3.3"), Protocol: "tcp", Port: 8080, IP2: netip.MustParseAddr("10.244.3.3")}),
				fk.sets.Add("IPVS-PROXY-HAIRPIN", ipset.Entry{IP: netip.MustParseAddr("10.244.7.7"), Protocol: "tcp", Port: 80, IP2: netip.MustParseAddr("10.244.7.7")}),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			fk.rules.Bury(rules.IPv4, "nat", "PREROUTING") // someone's rule above our jump
			applies := fk.rules.Applies()
			fk.resetCalls()
			if async { // the first step starts the first set's read and returns
				res, done, err := r.AuditStep(context.Background(), 1)
				if err != nil || done || res.Drift != 0 || r.audit.read == nil || r.audit.phase != 0 {
					t.Fatalf("first step: err %v, done %v, drift %d, read under way %v, phase %d: want the read started and nothing else",
						err, done, res.Drift, r.audit.read != nil, r.audit.phase)
				}
			}
			drift, repairs, _ := auditRound(t, r, 1)
			if fk.rules.Applies() != applies+1 {
				t.Errorf("rules applied %d times by the audit, want once (the buried jump)", fk.rules.Applies()-applies)
			}
			if c := fk.ipvs.Calls(); c.Services != 1 {
				t.Errorf("virtual-server lists: %d, want 1", c.Services)
			}
			// Objects: 2 members, 1 address, 2 virtual servers (lc, deleted)
			// found by the list, web's real servers by its slice; np's weight
			// by its slice.
			if drift != 7 {
				t.Errorf("drift = %d, want 7", drift)
			}
			// Repairs: 2 members, address, np scheduler, dns + its real
			// server, web's real server in and out, np's weight.
			if repairs != 9 {
				t.Errorf("repairs = %d, want 9", repairs)
			}
			assertText(t, "kernel after the audit", fk.dump(), want)
			assertCacheTruthful(t, r)
			// A second round finds nothing.
			if drift, repairs, _ := auditRound(t, r, 1); drift != 0 || repairs != 0 {
				t.Errorf("second round: drift %d, repairs %d", drift, repairs)
			}
		})
	}
}

// 2. A round of S steps reads an equal share of the virtual servers per
// step, never more than ceil(N / (S - fixed phases)).
func TestAuditSpreadsRealServerReads(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := benchSource(100)
	mustFull(t, r, src)
	fixed := len(desired.AllSets()) + 2
	const steps = 30 // 100 virtual servers over 30-8 = 22 steps: 5 per step
	share := (100 + steps - fixed - 1) / (steps - fixed)
	fk.resetCalls()
	var reads []int
	for {
		res, done, err := r.AuditStep(context.Background(), steps)
		if err != nil {
			t.Fatal(err)
		}
		if res.Drift != 0 {
			t.Fatalf("drift %d", res.Drift)
		}
		reads = append(reads, fk.ipvs.Calls().RealServers)
		fk.ipvs.ResetCalls()
		if done {
			break
		}
	}
	total := 0
	for i, n := range reads {
		if n > share {
			t.Errorf("step %d read %d real-server lists, want at most %d", i+1, n, share)
		}
		total += n
	}
	if total != 100 || len(reads) > steps {
		t.Errorf("round: %d steps, %d virtual servers read; want at most %d steps covering all 100", len(reads), total, steps)
	}
}

// 2. A refresh recomputes only the Services whose objects changed since
// their fragment was built, and the ones deleted; it does not read the
// kernel beyond the node's addresses.
func TestRefreshRecomputesOnlyChanged(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	src.put(service("default/bad", "not-an-ip", tcp("http", 80)))
	mustFull(t, r, src)
	m := fk.resetCalls()
	res, err := r.Refresh(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 0 || !res.Plan.Empty() {
		t.Errorf("refresh with nothing changed recomputed %v, plan:\n%s", res.Problems, res.Plan)
	}
	assertNoMutations(t, fk, m)
	if c := fk.ipvs.Calls(); c.Dump+c.Services+c.RealServers != 0 {
		t.Errorf("refresh read IPVS: %+v", c)
	}

	web := nsn("default/web")
	src.setSlices(web, epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2"))
	src.del(nsn("kube-system/dns"))
	res, err = r.Refresh(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for n := range res.Problems {
		got = append(got, n.String())
	}
	if strings.Join(got, ",") != "default/web" {
		t.Errorf("recomputed %v, want default/web only", got)
	}
	src2 := webAndDNS()
	src2.setSlices(web, epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2"))
	src2.del(nsn("kube-system/dns"))
	assertText(t, "kernel after refresh", fk.dump(), oracle(t, src2))
}

// 2. A full sync with nothing changed keeps every fragment and still
// reports each Service's problems (so Events stay as they are).
func TestFullKeepsUnchangedFragments(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	src.put(service("default/bad", "not-an-ip", tcp("http", 80)))
	first := mustFull(t, r, src)
	before := r.frags.entries[nsn("default/web")]
	second := mustFull(t, r, src)
	if after := r.frags.entries[nsn("default/web")]; after.svc != before.svc || &after.slices[0] != &before.slices[0] {
		t.Error("a full sync with nothing changed rebuilt the fragment of default/web")
	}
	if problemsOf(second, "default/bad") == "" || problemsOf(second, "default/bad") != problemsOf(first, "default/bad") {
		t.Errorf("problems of default/bad: first %q, second %q", problemsOf(first, "default/bad"), problemsOf(second, "default/bad"))
	}
	if _, ok := second.Problems[nsn("default/web")]; !ok {
		t.Error("default/web missing from the second full sync's problems (its Event state would be forgotten)")
	}
}

// 1. A stepped refresh checks at most limit Services per step, covers all
// of them (deleted ones included) when the audit is off, and recomputes
// only the changed.
func TestRefreshStepIsBounded(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.AuditPeriod = 0
	r := NewReconciler(fk.Kernel, cfg)
	src := benchSource(10)
	mustFull(t, r, src)
	changed := nsn("default/svc-3")
	src.setSlices(changed, benchSlice(10, 3, 1))
	src.del(nsn("default/svc-7"))
	var recomputed []string
	steps := 0
	for more := true; more; steps++ {
		res, m, err := r.RefreshStep(context.Background(), src, 3)
		if err != nil {
			t.Fatal(err)
		}
		for n := range res.Problems {
			recomputed = append(recomputed, n.String())
		}
		more = m
	}
	if steps != 4 { // 9 Services and 1 deleted, 3 per step
		t.Errorf("round took %d steps, want 4", steps)
	}
	if strings.Join(recomputed, ",") != "default/svc-3" {
		t.Errorf("recomputed %v, want default/svc-3", recomputed)
	}
	if _, ok := r.frags.entries[nsn("default/svc-7")]; ok || r.index.Len() != 9 {
		t.Errorf("deleted Service still known (index has %d)", r.index.Len())
	}
}

// A ledger set destroyed after its step of the round (its rules removed
// first, as the kernel demands) is made again with its members by the host
// step, before the rules that name it: no failed audit, no full sync.
func TestAuditHostRemakesDestroyedSet(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	mustFull(t, r, webAndDNS())
	want := fk.dump()
	drift := 0
	for range desired.AllSets() { // the sets phase
		res, _, err := r.AuditStep(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		drift += res.Drift
	}
	if err := fk.sets.Destroy("IPVS-PROXY-CLUSTER-IP"); err != nil {
		t.Fatal(err)
	}
	res, _, err := r.AuditStep(context.Background(), 1) // the host step
	if err != nil {
		t.Fatalf("host step after the set was destroyed: %v", err)
	}
	if drift+res.Drift == 0 {
		t.Error("the destroyed set's members were not counted as drift")
	}
	d, _, _ := auditRound(t, r, 1)
	if d != 0 {
		t.Errorf("the rest of the round found drift %d", d)
	}
	assertText(t, "kernel after the audit", fk.dump(), want)
	assertCacheTruthful(t, r)
}

// A set destroyed before its step is made again by that step, with the
// members the cache had, when the set's read runs off the loop too (the
// failed read is made again in the step, which makes the set).
func TestAuditSetStepRemakesDestroyedSet(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	r.asyncAudit = true
	mustFull(t, r, webAndDNS())
	want := fk.dump()
	if err := fk.sets.Destroy("IPVS-PROXY-HAIRPIN"); err != nil {
		t.Fatal(err)
	}
	if drift, _, _ := auditRound(t, r, 1); drift == 0 {
		t.Error("the destroyed set's members were not counted as drift")
	}
	assertText(t, "kernel after the audit", fk.dump(), want)
	assertCacheTruthful(t, r)
}

// The walk over every Service is spread over the refreshes of an
// AuditPeriod (a change comes through its own incremental sync: the walk
// is a net); a node-wide change makes the next refresh walk them all.
func TestRefreshWalkSpreadOverAuditPeriod(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.SyncPeriod, cfg.AuditPeriod = 30*time.Second, 150*time.Second // 5 refreshes a walk
	r := NewReconciler(fk.Kernel, cfg)
	src := benchSource(10)
	mustFull(t, r, src)
	src.setSlices(nsn("default/svc-9"), benchSlice(10, 9, 1)) // no event: the net finds it
	refresh := func() (checked int, recomputed []string) {
		t.Helper()
		before := r.refresh.pos
		for more := true; more; {
			res, m, err := r.RefreshStep(context.Background(), src, 100)
			if err != nil {
				t.Fatal(err)
			}
			for n := range res.Problems {
				recomputed = append(recomputed, n.String())
			}
			more = m
		}
		if r.refresh.names == nil {
			return 10 - before, recomputed
		}
		return r.refresh.pos - before, recomputed
	}
	var found []string
	for i := range 5 {
		checked, rec := refresh()
		if checked != 2 {
			t.Errorf("refresh %d checked %d Services, want 2 (10 over 5 refreshes)", i, checked)
		}
		found = append(found, rec...)
	}
	if strings.Join(found, ",") != "default/svc-9" {
		t.Errorf("the walk recomputed %v, want default/svc-9", found)
	}
	// The node's labels change: every fragment is stale, all at once.
	r.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: cfg.NodeName, Labels: map[string]string{"topology.kubernetes.io/zone": "z2"}}})
	checked, rec := refresh()
	if checked != 10 || len(rec) != 10 {
		t.Errorf("after a node change: checked %d, recomputed %d, want 10 and 10", checked, len(rec))
	}
}

// A Node seen before the first full sync is followed by it (host settings,
// rules): the first refresh has nothing of the node's to redo (it did, an
// iptables-save per family and more, seconds under emulation at start).
func TestFullFollowsTheNode(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	r := NewReconciler(fk.Kernel, cfg)
	r.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: cfg.NodeName, Labels: map[string]string{"topology.kubernetes.io/zone": "z1"}}})
	src := webAndDNS()
	mustFull(t, r, src)
	before := len(fk.rules.Calls())
	if _, _, err := r.RefreshStep(context.Background(), src, 100); err != nil {
		t.Fatal(err)
	}
	if calls := fk.rules.Calls()[before:]; len(calls) != 0 {
		t.Errorf("the first refresh after the full sync redid the rules: %v", calls)
	}
}

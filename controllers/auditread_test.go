package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// The host's and the virtual-server list's reads stay good through
// applies: a step after applies made during the read uses it (no read
// again, in or off the loop), finds no drift, and the round ends with the
// kernel where the syncs put it.
func TestAuditListReadsSurviveApplies(t *testing.T) {
	fk, r, src := auditFixture(t, true)
	host := len(desired.AllSets())
	auditTo(t, r, host) // the sets
	for phase := host; phase <= host+1; phase++ {
		if _, _, err := r.AuditStep(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		p := r.audit.read
		if p == nil || r.audit.phase != phase {
			t.Fatalf("phase %d: read under way %v, phase %d: want the read started", phase, p != nil, r.audit.phase)
		}
		<-p.done
		// A Service added and one deleted (a virtual server, an address and
		// members each), after the read: the read does not hold them.
		extra := src.put(service("default/extra", "10.96.0.77", tcp("http", 80)),
			epSlice("default/extra-1", "extra", "http", "", 8080, "10.244.4.4"))
		mustIncremental(t, r, src, extra)
		src.del(extra)
		mustIncremental(t, r, src, extra)
		setWeb(t, r, src, "10.244.1.1", "10.244.2.2", fmt.Sprintf("10.244.3.%d", 10+phase))
		res, _, err := r.AuditStep(context.Background(), 1)
		if err != nil || res.Drift != 0 {
			t.Fatalf("phase %d: err %v, drift %d: want the read compared, no drift", phase, err, res.Drift)
		}
		if r.audit.read != nil || r.audit.phase != phase+1 {
			t.Fatalf("phase %d: read under way %v, phase now %d: want the read used", phase, r.audit.read != nil, r.audit.phase)
		}
	}
	want := fk.dump()
	if drift, _, _ := auditRound(t, r, 1); drift != 0 {
		t.Errorf("rest of the round: drift %d, want none", drift)
	}
	assertText(t, "kernel", fk.dump(), want)
	assertCacheTruthful(t, r)
}

// A virtual server and an address that an apply deletes before the read
// lists them and makes again after it (or makes before and deletes after)
// are the cache's: not drift, not undone, not foreign, and a virtual
// server made during the read is queued for the real-server steps.
func TestAuditListReadsLeaveAppliedToCache(t *testing.T) {
	fk, r, src := auditFixture(t, true)
	extraSvc := service("default/extra", "10.96.0.77", tcp("http", 80))
	extraSlice := epSlice("default/extra-1", "extra", "http", "", 8080, "10.244.4.4")
	extra := nsn("default/extra")
	add := func() { t.Helper(); src.put(extraSvc, extraSlice); mustIncremental(t, r, src, extra) }
	del := func() { t.Helper(); src.del(extra); mustIncremental(t, r, src, extra) }
	key := mustKey("tcp 10.96.0.77:80")
	addr := netip.MustParseAddr("10.96.0.77")
	for _, order := range []struct {
		name                 string
		setup, before, after func()
	}{
		{"deleted before the listing, made after", add, del, add},
		{"made before the listing, deleted after", del, add, del},
	} {
		t.Run(order.name, func(t *testing.T) {
			order.setup()
			want := fk.dump() // where the syncs put it, and leave it

			// The host's read: addresses.
			compare := r.readAddresses()
			order.before()
			link, err := fk.links.Addresses(dummy)
			if err != nil {
				t.Fatal(err)
			}
			order.after()
			sc, err := r.auditHost(context.Background(), hostRead{addrs: compare(link)})
			if err != nil || len(sc.Addresses) != 0 {
				t.Errorf("host: err %v, drift %v: want none", err, sc.Addresses)
			}

			// The virtual-server list's read.
			read := r.readServices()
			order.before()
			v, err := read()
			order.after()
			d, _ := v.(servicesDiff)
			sc, err = r.auditServicesFrom(d, err)
			if err != nil || len(sc.Services) != 0 {
				t.Errorf("services: err %v, drift %v: want none", err, sc.Services)
			}
			if _, ok := r.foreign[key]; ok {
				t.Errorf("%s noted foreign", key)
			}
			_, cached := r.cache.Services[key]
			if queued := slices.Contains(r.audit.keys, key); queued != cached {
				t.Errorf("%s queued for its real servers %v, cached %v", key, queued, cached)
			}
			if _, ok := r.cache.Addresses[addr]; ok != cached {
				t.Errorf("%s cached %v, its virtual server %v", addr, ok, cached)
			}
			// The rest of the round finds nothing and leaves the kernel.
			r.audit.pos = 0
			r.audit.phase = len(desired.AllSets()) + 2
			for done := false; !done; {
				res, d, err := r.AuditStep(context.Background(), 1)
				if err != nil || res.Drift != 0 {
					t.Fatalf("real-server step: err %v, drift %d", err, res.Drift)
				}
				done = d
			}
			assertText(t, "kernel", fk.dump(), want)
			assertCacheTruthful(t, r)
			r.audit = auditState{}
		})
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

package controllers

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// A fake clock for the drain bound.
type clock struct{ t time.Time }

func (c *clock) now() time.Time              { return c.t }
func (c *clock) add(d time.Duration)         { c.t = c.t.Add(d) }
func newClock() *clock                       { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func ipvsLines(fk *fakeKernel, s string) int { return strings.Count(fk.ipvs.String(), s) }

var (
	webVIP  = mustKey("tcp 10.96.0.10:80")
	webNode = mustKey("tcp 192.168.1.10:30080")
	gone3   = rs("10.244.3.3:8080").RealServerKey
)

// dropWeb3 removes endpoint 10.244.3.3 from default/web.
func dropWeb3(src *mapSource) {
	src.setSlices(nsn("default/web"), epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2"))
}

// A TCP endpoint with connections leaves: its real servers go to weight 0 and
// stay while IPVS counts connections, and the next syncs neither delete nor
// re-weight them; once the counts reach 0 a check deletes them, reading only
// the virtual servers that drain.
func TestDrainTCPEndpointWithConnections(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	clk := newClock()
	r.drain.now = clk.now
	src := webAndDNS()
	for i := range 30 { // unrelated Services: a check must not read them
		name := "x" + strconv.Itoa(i)
		src.put(service("default/"+name, "10.96.1."+strconv.Itoa(i+1), tcp("http", 80)),
			epSlice("default/"+name+"-1", name, "http", "", 8080, "10.244.9."+strconv.Itoa(i+1)))
	}
	mustFull(t, r, src)
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{Active: 1}))
	must(t, fk.ipvs.SetConns(webNode, gone3, ipvs.Conns{Inactive: 2}))

	dropWeb3(src)
	fk.resetCalls()
	res := mustIncremental(t, r, src, nsn("default/web"))
	if got := res.Plan.String(); !strings.Contains(got, "-e -t 10.96.0.10:80 -r 10.244.3.3:8080 -m -w 0\n") ||
		!strings.Contains(got, "-e -t 192.168.1.10:30080 -r 10.244.3.3:8080 -m -w 0\n") || strings.Contains(got, "-d ") {
		t.Errorf("plan:\n%s", got)
	}
	if c := fk.ipvs.Calls(); c.RealServers != 2 || c.DeleteRealServer != 0 || c.Dump != 0 {
		t.Errorf("ipvs calls %+v; want one destination dump per affected virtual server, no delete", c)
	}
	if n := ipvsLines(fk, "-r 10.244.3.3:8080 -m -w 0"); n != 2 || r.Draining() != 2 {
		t.Errorf("weight-0 lines %d, draining %d; want 2, 2\n%s", n, r.Draining(), fk.ipvs)
	}
	assertCacheTruthful(t, r)

	// The cache does not fight the drain: the Service syncs again, and a
	// full sync runs; neither touches the draining servers.
	m := fk.resetCalls()
	res = mustIncremental(t, r, src, nsn("default/web"))
	if !res.Plan.Empty() {
		t.Errorf("second incremental plan:\n%s", res.Plan)
	}
	res = mustFull(t, r, src)
	if !res.Plan.Empty() {
		t.Errorf("full sync plan while draining:\n%s", res.Plan)
	}
	assertNoMutations(t, fk, m)

	// One server's connections end: the check reads the two draining
	// virtual servers only and deletes that one.
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{}))
	fk.resetCalls()
	res, err := r.CheckDrains(context.Background())
	must(t, err)
	if got := res.Plan.String(); got != "-d -t 10.96.0.10:80 -r 10.244.3.3:8080\n" {
		t.Errorf("check plan:\n%s", got)
	}
	if c := fk.ipvs.Calls(); c.RealServers != 2 || c.Dump != 0 || c.Mutations() != 1 {
		t.Errorf("check calls %+v; want 2 destination dumps (not %d Services), 1 delete", c, len(src.Services()))
	}
	if r.Draining() != 1 {
		t.Errorf("draining %d, want 1", r.Draining())
	}
	// The other one: its counts reach 0 and a full sync (which reads every
	// count anyway) deletes it.
	must(t, fk.ipvs.SetConns(webNode, gone3, ipvs.Conns{}))
	res = mustFull(t, r, src)
	if got := res.Plan.String(); got != "-d -t 192.168.1.10:30080 -r 10.244.3.3:8080\n" {
		t.Errorf("full plan:\n%s", got)
	}
	if r.Draining() != 0 {
		t.Errorf("draining %d after all drained", r.Draining())
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
	assertCacheTruthful(t, r)

	// Nothing drains: a check costs no kernel call.
	fk.resetCalls()
	if res, err := r.CheckDrains(context.Background()); err != nil || !res.Plan.Empty() {
		t.Errorf("idle check = %v, %v", res.Plan, err)
	}
	if c := fk.ipvs.Calls(); c.RealServers != 0 || c.Dump != 0 || c.Mutations() != 0 {
		t.Errorf("idle check made calls: %+v", c)
	}
}

// Without connections a removed TCP endpoint goes at once, as before.
func TestDrainTCPEndpointWithoutConnections(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	dropWeb3(src)
	res := mustIncremental(t, r, src, nsn("default/web"))
	if n := strings.Count(res.Plan.String(), "-d -t "); n != 2 || r.Draining() != 0 {
		t.Errorf("plan:\n%s\ndraining %d", res.Plan, r.Draining())
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

// A terminating endpoint that comes back is restored to weight 1 in place:
// no delete, no add, so its connections live on.
func TestDrainEndpointComesBack(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{Active: 1}))
	must(t, fk.ipvs.SetConns(webNode, gone3, ipvs.Conns{Active: 1}))
	dropWeb3(src)
	mustIncremental(t, r, src, nsn("default/web"))

	back := webAndDNS()
	fk.resetCalls()
	res := mustIncremental(t, r, back, nsn("default/web"))
	if got := res.Plan.String(); !strings.Contains(got, "-e -t 10.96.0.10:80 -r 10.244.3.3:8080 -m -w 1\n") {
		t.Errorf("plan:\n%s", got)
	}
	if c := fk.ipvs.Calls(); c.UpdateRealServer != 2 || c.DeleteRealServer != 0 || c.AddRealServer != 0 {
		t.Errorf("calls %+v; want 2 in-place updates", c)
	}
	if r.Draining() != 0 {
		t.Errorf("still draining %d", r.Draining())
	}
	if _, conns, _ := fk.ipvs.RealServers(webVIP); conns[gone3].Active != 1 {
		t.Error("the connection did not survive")
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, back))
}

// After a restart, a real server at weight 0 that is not desired is
// draining: not re-added at weight 1, not deleted while it has connections.
func TestDrainSurvivesRestart(t *testing.T) {
	fk := newFakeKernel()
	src := webAndDNS()
	r := newTestReconciler(t, fk)
	mustFull(t, r, src)
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{Active: 3}))
	must(t, fk.ipvs.SetConns(webNode, gone3, ipvs.Conns{Active: 1}))
	dropWeb3(src)
	mustIncremental(t, r, src, nsn("default/web"))
	before := fk.dump()

	m := fk.resetCalls()
	b := newTestReconciler(t, fk) // a new process
	res := mustFull(t, b, src)
	assertNoMutations(t, fk, m)
	if !res.Plan.Empty() || b.Draining() != 2 {
		t.Errorf("after restart: plan\n%s\ndraining %d, want 2", res.Plan, b.Draining())
	}
	assertText(t, "kernel after restart", fk.dump(), before)

	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{}))
	must(t, fk.ipvs.SetConns(webNode, gone3, ipvs.Conns{}))
	if _, err := b.CheckDrains(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

// drainTimeout bounds the drain: past it, the server goes with its
// connections.
func TestDrainBound(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.DrainTimeout = time.Minute
	r := NewReconciler(fk.Kernel, cfg)
	clk := newClock()
	r.drain.now = clk.now
	src := webAndDNS()
	mustFull(t, r, src)
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{Active: 1}))
	must(t, fk.ipvs.SetConns(webNode, gone3, ipvs.Conns{Active: 1}))
	dropWeb3(src)
	mustIncremental(t, r, src, nsn("default/web"))

	clk.add(59 * time.Second)
	if res, _ := r.CheckDrains(context.Background()); !res.Plan.Empty() {
		t.Errorf("deleted before the bound:\n%s", res.Plan)
	}
	clk.add(time.Second)
	res, err := r.CheckDrains(context.Background())
	must(t, err)
	if n := strings.Count(res.Plan.String(), "-d -t "); n != 2 {
		t.Errorf("at the bound:\n%s", res.Plan)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

// The Controller checks drains when the ticker asks (a sync with nothing
// pending), and only then.
func TestControllerSyncChecksDrains(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	c := NewController(nil, r, testConfig(), nil)
	c.src = src
	must(t, c.sync(context.Background(), true))
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{Active: 1}))
	dropWeb3(src)
	c.pending[nsn("default/web")] = struct{}{}
	must(t, c.sync(context.Background(), false))
	if r.Draining() != 1 {
		t.Fatalf("draining %d, want 1", r.Draining())
	}
	must(t, fk.ipvs.SetConns(webVIP, gone3, ipvs.Conns{}))
	fk.resetCalls()
	must(t, c.sync(context.Background(), false)) // the ticker's request
	if c := fk.ipvs.Calls(); c.RealServers != 1 || c.DeleteRealServer != 1 {
		t.Errorf("calls %+v", c)
	}
	if r.Draining() != 0 {
		t.Errorf("draining %d", r.Draining())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

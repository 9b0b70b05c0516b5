package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// 6. A kernel refusal about one object (EINVAL, ERANGE, EEXIST, ...) is a
// problem of the Services that want it: reported, listed for a retry, its
// dependents skipped and nothing else; the sync succeeds. The retry (an
// incremental sync of res.Retry) redoes only what failed, and converges.
func TestPerObjectFailureIsolated(t *testing.T) {
	web, dns := nsn("default/web"), nsn("kube-system/dns")
	for _, tc := range []struct {
		name   string
		inject func(fk *fakeKernel)
		// change, when set, runs a successful Full first and then changes src.
		change      func(src *mapSource)
		wantProblem string // of web
		wantRS      int    // real servers in the kernel after the failed sync
		wantSkipped int
		wantRetry   []types.NamespacedName
		wantRedo    int // ipvs mutations of the retry
	}{
		{
			name:        "AddRealServer EINVAL",
			inject:      func(fk *fakeKernel) { fk.ipvs.FailNext(ipvs.OpAddRealServer, syscall.EINVAL) },
			wantProblem: "-a -t 10.96.0.10:80 -r 10.244.1.1:8080 -m -w 1: add real server 10.244.1.1:8080 of -t 10.96.0.10:80: invalid argument",
			wantRS:      6, wantRetry: []types.NamespacedName{web}, wantRedo: 1,
		},
		{
			name:   "AddVirtualServer ERANGE skips its real servers only",
			inject: func(fk *fakeKernel) { fk.ipvs.FailNext(ipvs.OpAddVirtualServer, syscall.ERANGE) },
			// The skipped real servers concern the same Service: told once.
			wantProblem: "-A -t 10.96.0.10:80 -s rr: add virtual server -t 10.96.0.10:80: numerical result out of range",
			wantRS:      4, wantSkipped: 3, wantRetry: []types.NamespacedName{web}, wantRedo: 1 + 3,
		},
		{
			name: "ledger member refused: what it records is skipped",
			// The first member added is web's ClusterIP entry.
			inject:      func(fk *fakeKernel) { fk.sets.FailNext(ipset.OpAdd, syscall.EINVAL) },
			wantProblem: "-A -t 10.96.0.10:80 -s rr: skipped, it needs add IPVS-PROXY-CLUSTER-IP 10.96.0.10,tcp:80: invalid argument",
			// address, virtual server and its 3 real servers skipped
			wantRS: 4, wantSkipped: 1 + 1 + 3, wantRetry: []types.NamespacedName{web}, wantRedo: 1 + 3,
		},
		{
			name:   "DeleteRealServer EINVAL",
			inject: func(fk *fakeKernel) { fk.ipvs.FailNext(ipvs.OpDeleteRealServer, syscall.EINVAL) },
			change: func(src *mapSource) {
				src.setSlices(nsn("default/web"), epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2"))
			},
			wantProblem: "-d -t 10.96.0.10:80 -r 10.244.3.3:8080: delete real server 10.244.3.3:8080 of -t 10.96.0.10:80: invalid argument",
			wantRS:      6, wantRetry: []types.NamespacedName{web}, wantRedo: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKernel()
			r := newTestReconciler(t, fk)
			src := webAndDNS()
			if tc.change != nil {
				mustFull(t, r, src)
				tc.change(src)
			}
			tc.inject(fk)
			res := mustFull(t, r, src)
			if !r.Synced() {
				t.Error("not Synced after a sync with only per-object failures")
			}
			if got := problemsOf(res, web.String()); !strings.Contains(got, tc.wantProblem) {
				t.Errorf("problems of web = %q, want it to contain %q", got, tc.wantProblem)
			}
			if p := res.Problems[dns]; p != nil {
				t.Errorf("problems of dns: %v", p)
			}
			if len(res.Failed) != 1 {
				t.Errorf("Failed = %v, want one", res.Failed)
			}
			if res.Skipped != tc.wantSkipped {
				t.Errorf("Skipped = %d, want %d", res.Skipped, tc.wantSkipped)
			}
			if !slices.Equal(res.Retry, tc.wantRetry) {
				t.Errorf("Retry = %v, want %v", res.Retry, tc.wantRetry)
			}
			if got := strings.Count(fk.ipvs.String(), "\n-a "); got != tc.wantRS {
				t.Errorf("%d real servers after the failure, want %d:\n%s", got, tc.wantRS, fk.ipvs.String())
			}
			assertCacheTruthful(t, r)

			// The retry is incremental, redoes only what failed, and converges.
			fk.resetCalls()
			res = mustIncremental(t, r, src, res.Retry...)
			if c := fk.ipvs.Calls(); c.Mutations() != tc.wantRedo || c.Dump != 0 {
				t.Errorf("retry ipvs calls = %+v, want %d mutations, no dump", c, tc.wantRedo)
			}
			if p := res.Problems[web]; p != nil || len(res.Retry) != 0 {
				t.Errorf("after the retry: problems of web %v, Retry %v", p, res.Retry)
			}
			assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
			m := fk.resetCalls()
			mustFull(t, r, src)
			assertNoMutations(t, fk, m)
		})
	}
}

// A stale virtual server that cannot be deleted belongs to no Service: it is
// listed as Unowned, keeps its ledger member (its delete is skipped), and any
// incremental sync retries it.
func TestUnownedFailureRetried(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	src.del(nsn("kube-system/dns")) // no event: the full sync finds it stale
	fk.ipvs.FailNext(ipvs.OpDeleteVirtualServer, syscall.EINVAL)
	res := mustFull(t, r, src)
	if !slices.Equal(res.Retry, []types.NamespacedName{Unowned}) || len(res.Failed) != 1 || res.Skipped != 1 {
		t.Errorf("Retry %v, Failed %v, Skipped %d; want [Unowned], one failure, the member's delete skipped", res.Retry, res.Failed, res.Skipped)
	}
	if !strings.Contains(fk.members(), "10.96.0.53,udp:53") {
		t.Errorf("ledger member of a virtual server that is still there was deleted:\n%s", fk.members())
	}
	assertCacheTruthful(t, r)
	fk.resetCalls()
	res = mustIncremental(t, r, src, res.Retry...)
	if c := fk.ipvs.Calls(); c.DeleteVirtualServer != 1 || c.Mutations() != 1 {
		t.Errorf("retry ipvs calls = %+v", c)
	}
	if len(res.Retry) != 0 {
		t.Errorf("Retry after the retry: %v", res.Retry)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

// A node-level failure (no errno, EPERM, a set gone, ...) stops the apply and
// fails the sync: the Runner retries with a full sync, which converges.
func TestNodeLevelFailureFailsSync(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(fk *fakeKernel)
		wantRS int
	}{
		{"no errno", func(fk *fakeKernel) { fk.ipvs.FailNext(ipvs.OpAddRealServer, errBoom) }, 0},
		{"EPERM", func(fk *fakeKernel) { fk.ipvs.FailNext(ipvs.OpAddVirtualServer, syscall.EPERM) }, 0},
		{"set gone", func(fk *fakeKernel) {
			fk.sets.FailNext(ipset.OpAdd, errors.Join(ipset.ErrNotFound, syscall.ENOENT))
		}, 0},
		{"dummy link gone", func(fk *fakeKernel) { fk.links.FailNext(netif.OpAddAddress, syscall.ENODEV) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKernel()
			r := newTestReconciler(t, fk)
			src := webAndDNS()
			tc.inject(fk)
			res, err := r.Full(context.Background(), src)
			if err == nil || perObject(err) {
				t.Fatalf("Full err = %v, want a node-level error", err)
			}
			if r.Synced() {
				t.Error("Synced after a failed full sync")
			}
			if len(res.Retry) != 0 {
				t.Errorf("Retry = %v: a node-level failure is retried as a full sync", res.Retry)
			}
			if got := strings.Count(fk.ipvs.String(), "\n-a "); got != tc.wantRS {
				t.Errorf("%d real servers after the failure:\n%s", got, fk.ipvs.String())
			}
			assertCacheTruthful(t, r)
			mustFull(t, r, src)
			assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
			m := fk.resetCalls()
			mustFull(t, r, src)
			assertNoMutations(t, fk, m)
		})
	}
}

func TestPerObjectClassification(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{syscall.EINVAL, true},
		{syscall.ERANGE, true},
		{syscall.EEXIST, true},
		{syscall.ENOENT, true},
		{syscall.ESRCH, true},
		{syscall.Errno(4352), true}, // IPSET_ERR_HASH_FULL
		{errors.Join(errors.New("add virtual server"), syscall.EINVAL), true},
		{syscall.EPERM, false},
		{syscall.EOPNOTSUPP, false},
		{syscall.ENODEV, false},
		{syscall.ENOBUFS, false},
		{errors.Join(ipset.ErrNotFound, syscall.ENOENT), false},
		{errBoom, false},
		{context.Canceled, false},
	} {
		if got := perObject(tc.err); got != tc.want {
			t.Errorf("perObject(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A cancelled sync stops between two operations, reports the cancellation,
// leaves the cache truthful and the kernel crash-safe: a fresh process
// converges from it.
func TestCancelledApplyStopsPromptly(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := manyServices(50)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	fk.ipvs.Inject(func(op ipvs.Op, _ ipvs.Key) error {
		if op == ipvs.OpAddVirtualServer {
			if n++; n == 10 {
				cancel()
			}
		}
		return nil
	})
	res, err := r.Full(ctx, src)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Full err = %v, want cancelled", err)
	}
	fk.ipvs.Inject(nil)
	if c := fk.ipvs.Calls(); c.AddVirtualServer != 10 || c.Mutations() != 10 {
		t.Errorf("ipvs calls after cancel = %+v, want exactly the 10 made before it", c)
	}
	if res.Plan.Len() <= 10 {
		t.Errorf("plan of %d operations", res.Plan.Len())
	}
	assertCacheTruthful(t, r)
	// Crash-safe: every virtual server made is recorded in the ledger.
	assertLedgerCovers(t, fk)
	mustFull(t, newTestReconciler(t, fk), src)
	assertText(t, "kernel after recovery vs oracle", fk.dump(), oracle(t, src))
}

// assertLedgerCovers fails if a virtual server in the fake kernel has no
// ledger member (it would be foreign to a restarted process).
func assertLedgerCovers(t *testing.T, fk *fakeKernel) {
	t.Helper()
	svcs, _ := fk.ipvs.Dump()
	text := fk.members()
	for _, s := range svcs {
		e := "," + s.Protocol.String() + ":"
		if !strings.Contains(text, s.Address.String()+e) {
			t.Errorf("virtual server %s not recorded in the ledger", s.Key)
		}
	}
}

// The executor runs state.Plan.Ops: an op whose dependency failed is skipped,
// and exactly those; independent ops still run.
func TestApplySkipsExactlyDependents(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	// dns's ClusterIP member is the second Add (after web's).
	fk.sets.FailNext(ipset.OpAdd, nil)
	fk.sets.FailNext(ipset.OpAdd, syscall.EINVAL)
	res := mustFull(t, r, src)
	ops := res.Plan.Ops(nil)
	if len(ops) != res.Plan.Len() {
		t.Fatalf("Ops has %d, Len %d", len(ops), res.Plan.Len())
	}
	// Skipped: dns's address, virtual server and real server.
	if res.Skipped != 3 || len(res.Failed) != 1 {
		t.Errorf("Skipped %d, Failed %v", res.Skipped, res.Failed)
	}
	got := fk.ipvs.String()
	if strings.Contains(got, "10.96.0.53") || !strings.Contains(got, webAndDNSIPVS[:strings.Index(webAndDNSIPVS, "-A -u")]) {
		t.Errorf("ipvsadm -Sn:\n%s", got)
	}
	if !slices.Equal(fk.dummyAddrs(), []string{"10.96.0.10"}) {
		t.Errorf("addresses = %v", fk.dummyAddrs())
	}
	// Hairpin members do not depend on the ledger.
	if !strings.Contains(fk.members(), "IPVS-PROXY-HAIRPIN 10.244.1.7,udp:5353") {
		t.Errorf("independent member skipped:\n%s", fk.members())
	}
	assertCacheTruthful(t, r)
}

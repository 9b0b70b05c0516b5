package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// oneByOne hides the fake's Batch: apply then makes one call per operation.
type oneByOne struct{ ipvs.Interface }

// oneByOneSets and oneByOneLinks hide the ipset and netif fakes' Batch likewise.
type (
	oneByOneSets  struct{ ipset.Interface }
	oneByOneLinks struct{ netif.Interface }
)

// failingLinks fails the address adds fail refuses, one call at a time or
// batched (Batch runs the calls one by one).
type failingLinks struct {
	*netif.Fake
	fail func(a netip.Addr) error
}

func (f failingLinks) AddAddress(link string, a netip.Addr) error {
	if err := f.fail(a); err != nil {
		return fmt.Errorf("netif: add address %s to %s: %w", a, link, err)
	}
	return f.Fake.AddAddress(link, a)
}

func (f failingLinks) Batch(ctx context.Context, ops []netif.BatchOp) []error {
	f.Fake.Batch(ctx, nil) // counted as a batch
	return netif.OneByOne(ctx, f, ops)
}

// hookedSets fails the member adds and deletes hook refuses, one call at a
// time or batched (Batch runs the calls one by one, hook included).
type hookedSets struct {
	ipset.Interface
	hook func(op ipset.Op, set string, e ipset.Entry) error
}

func (h hookedSets) Add(name string, e ipset.Entry) error {
	if err := h.hook(ipset.OpAdd, name, e); err != nil {
		return fmt.Errorf("ipset add %s %s: %w", name, e, err)
	}
	return h.Interface.Add(name, e)
}

func (h hookedSets) Del(name string, e ipset.Entry) error {
	if err := h.hook(ipset.OpDel, name, e); err != nil {
		return fmt.Errorf("ipset del %s %s: %w", name, e, err)
	}
	return h.Interface.Del(name, e)
}

func (h hookedSets) Batch(ctx context.Context, ops []ipset.BatchOp) []error {
	h.Interface.(*ipset.Fake).Batch(ctx, nil) // counted as a batch
	return ipset.OneByOne(ctx, h, ops)
}

// Batched IPVS operations give what one call each gives, failures in the
// middle of a run included: the same kernel, cache, failures, skips and
// retries, and a node-level failure stops the sync at the same operation.
func TestBatchedApplyEqualsOneByOne(t *testing.T) {
	vip := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.96.0.%d", i)) }
	for _, tc := range []struct {
		name     string
		hook     func(op ipvs.Op, k ipvs.Key) error
		setHook  func(op ipset.Op, set string, e ipset.Entry) error
		addrFail func(a netip.Addr) error
	}{
		{"no failure", nil, nil, nil},
		{"real servers refused mid-run", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddRealServer && k.Address == vip(5) {
				return syscall.EINVAL
			}
			return nil
		}, nil, nil},
		{"virtual server refused, its real servers skipped", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddVirtualServer && (k.Address == vip(3) || k.Address == vip(40)) {
				return syscall.ERANGE
			}
			return nil
		}, nil, nil},
		{"node-level failure mid-run", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddRealServer && k.Address == vip(7) {
				return errBoom
			}
			return nil
		}, nil, nil},
		{"member adds refused mid-run, their virtual servers skipped", nil, func(op ipset.Op, set string, e ipset.Entry) error {
			if op == ipset.OpAdd && (e.IP == vip(5) || e.IP == vip(31)) {
				return syscall.EINVAL
			}
			return nil
		}, nil},
		{"node-level member failure mid-run", nil, func(op ipset.Op, set string, e ipset.Entry) error {
			if op == ipset.OpAdd && e.IP == vip(9) && set == desired.Sets(e.IP).ClusterIP {
				return errBoom
			}
			return nil
		}, nil},
		{"addresses refused mid-run, their virtual servers skipped", nil, nil, func(a netip.Addr) error {
			if a == vip(4) || a == vip(44) {
				return syscall.EADDRINUSE
			}
			return nil
		}},
		{"node-level address failure mid-run", nil, nil, func(a netip.Addr) error {
			if a == vip(12) {
				return errBoom
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(batched bool) (string, *fakeKernel) {
				fk := newFakeKernel()
				if tc.setHook != nil {
					fk.Kernel.Sets = hookedSets{fk.sets, tc.setHook}
				}
				if tc.addrFail != nil {
					fk.Kernel.Links = failingLinks{fk.links, tc.addrFail}
				}
				if !batched {
					fk.Kernel.IPVS = oneByOne{fk.ipvs}
					fk.Kernel.Sets = oneByOneSets{fk.Kernel.Sets}
					fk.Kernel.Links = oneByOneLinks{fk.Kernel.Links}
				}
				r := newTestReconciler(t, fk)
				fk.ipvs.Inject(tc.hook)
				res, err := r.Full(context.Background(), manyServices(60))
				fk.ipvs.Inject(nil)
				assertCacheTruthful(t, r)
				out := fmt.Sprintf("err: %v\nskipped: %d\nretry: %v\nfailed: %q\n%s", err, res.Skipped, res.Retry, res.Failed, fk.dump())
				return out, fk
			}
			batched, fk := run(true)
			single, fk1 := run(false)
			if fk.ipvs.Batches() == 0 && tc.setHook == nil && tc.addrFail == nil { // a node-level failure stops the sync before
				t.Error("no batch was sent")
			}
			if fk1.ipvs.Batches() != 0 || fk1.sets.Batches() != 0 || fk1.links.Batches() != 0 {
				t.Error("the one-by-one run batched")
			}
			if fk.sets.Batches() == 0 {
				t.Error("no member batch was sent")
			}
			if fk.links.Batches() == 0 && tc.setHook == nil {
				t.Error("no address batch was sent")
			}
			if c, c1 := fk.links.Calls(), fk1.links.Calls(); c != c1 {
				t.Errorf("netif calls batched %+v, one by one %+v", c, c1)
			}
			if c, c1 := fk.sets.Calls(), fk1.sets.Calls(); c != c1 {
				t.Errorf("ipset calls batched %+v, one by one %+v", c, c1)
			}
			if c, c1 := fk.ipvs.Calls(), fk1.ipvs.Calls(); c.Mutations() != c1.Mutations() {
				t.Errorf("batched made %d requests, one by one %d", c.Mutations(), c1.Mutations())
			}
			if failed := !strings.Contains(batched, "failed: []") || !strings.HasPrefix(batched, "err: <nil>"); failed != (tc.hook != nil || tc.setHook != nil || tc.addrFail != nil) {
				t.Errorf("failures %v, want %v:\n%s", failed, !failed, batched)
			}
			assertText(t, "batched vs one by one", batched, single)
		})
	}
}

// A set that fills up in the middle of a batched run of member adds (the
// ClusterIP ledger, maxelem 8, referenced by a rule, holding 4 members
// when an incremental sync adds 8 more) grows once, without a member
// missing after any call, and the adds it refused are made again: the
// same kernel, cache and result as one call each.
func TestBatchedApplyGrowsASetFullMidRun(t *testing.T) {
	run := func(batched bool) (string, *fakeKernel) {
		fk := newFakeKernel()
		cip := desired.Sets(mustKey("tcp 10.96.0.1:80").Address).ClusterIP
		if err := fk.sets.Ensure(ipset.Set{Name: cip, Type: ipset.HashIPPort, Family: ipset.FamilyInet, MaxElem: 8}); err != nil {
			t.Fatal(err)
		}
		fk.sets.Reference(cip)
		w := &watchedSets{Fake: fk.sets, set: cip}
		fk.Kernel.Sets = w
		if !batched {
			fk.Kernel.IPVS = oneByOne{fk.ipvs}
			fk.Kernel.Sets = oneByOneSets{w}
		}
		r := newTestReconciler(t, fk)
		src := newSource()
		smallSetsSource(src, 0, 4)
		mustFull(t, r, src)
		var err error
		if w.keep, err = fk.sets.List(cip); err != nil || len(w.keep) != 4 {
			t.Fatalf("ClusterIP ledger after the first sync: %v, %v", w.keep, err)
		}
		fk.resetCalls()
		batches := fk.sets.Batches()
		res, err := r.Incremental(context.Background(), src, smallSetsSource(src, 4, 12))
		if err != nil || len(res.Failed) > 0 || len(res.Retry) > 0 {
			t.Fatalf("incremental sync past maxelem: %v, failed %v, retry %v", err, res.Failed, res.Retry)
		}
		if len(w.gaps) > 0 || w.checks == 0 {
			t.Fatalf("%d checks; members missing:\n%s", w.checks, strings.Join(w.gaps, "\n"))
		}
		c := fk.sets.Calls()
		if c.Swap != 1 || c.Create != 1 {
			t.Fatalf("ipset calls %+v: want one grow (one create, one swap)", c)
		}
		if got := fk.sets.Batches() > batches; got != batched {
			t.Fatalf("member batches sent: %v, want %v", got, batched)
		}
		info, err := fk.sets.Info(cip)
		if err != nil || info.Size != 12 || info.References != 1 {
			t.Fatalf("ClusterIP ledger: %+v, %v; want 12 members and the rule's reference", info, err)
		}
		assertCacheTruthful(t, r)
		// Not the add count: one by one, the adds after the grow are not
		// refused; batched, all four were sent before it and are sent again.
		return fmt.Sprintf("skipped: %d\nretry: %v\n%s", res.Skipped, res.Retry, fk.dump()), fk
	}
	batched, _ := run(true)
	single, _ := run(false)
	assertText(t, "batched vs one by one", batched, single)
}

// A run is of IPVS operations or of member operations, never both; an
// operation needing one in the run waits; and a ledger member delete that
// lastRecord judges waits for the run's members recording its address to
// be recorded (lastRecord counts the cache's), while one of another
// address joins.
func TestOpBatchRuns(t *testing.T) {
	b := &opBatch{to: ipvs.NewFake(), sets: ipset.NewFake(), links: netif.NewFake(), dev: dummy}
	k := mustKey("tcp 10.96.0.1:80")
	cip := func(k ipvs.Key) state.Member { return ledger.Members(k)[0] }
	nodePort := func(k ipvs.Key) state.Member { return ledger.Members(k)[1] }
	del := func(m state.Member, deps ...int) *state.Op {
		return &state.Op{Kind: state.DeleteMember, Member: m, Deps: deps}
	}
	if !b.add(0, del(cip(k))) || b.len() != 1 || b.kind != memberRun {
		t.Fatalf("a member delete did not start a member run")
	}
	other := mustKey("tcp 10.96.0.2:80")
	sameAddr := mustKey("udp 10.96.0.1:53")
	for _, tc := range []struct {
		name string
		op   *state.Op
		want bool
	}{
		{"IPVS operation", &state.Op{Kind: state.DeleteService, Service: ipvs.VirtualServer{Key: other}}, false},
		{"address operation", &state.Op{Kind: state.DeleteAddress, Address: other.Address}, false},
		{"member of another address", del(cip(other)), true},
		{"member recording the same address", del(cip(sameAddr)), false},
		{"member of the same address recording no address", del(nodePort(sameAddr)), true},
		{"member needing the run", del(cip(other), 0), false},
		{"member needing an earlier op", &state.Op{Kind: state.AddMember, Member: cip(other)}, true},
	} {
		if got := b.accepts(tc.op); got != tc.want {
			t.Errorf("%s: accepts %v, want %v", tc.name, got, tc.want)
		}
	}
	// Without an ipset.Batcher, member operations are not batched, nor
	// address operations without a netif.Batcher.
	nb := &opBatch{to: ipvs.NewFake()}
	if nb.add(0, del(cip(k))) {
		t.Error("a member operation joined a run without an ipset.Batcher")
	}
	if nb.add(0, &state.Op{Kind: state.AddAddress, Address: k.Address}) {
		t.Error("an address operation joined a run without a netif.Batcher")
	}
	// An address run takes address operations only.
	ab := &opBatch{to: ipvs.NewFake(), sets: ipset.NewFake(), links: netif.NewFake(), dev: dummy}
	if !ab.add(0, &state.Op{Kind: state.DeleteAddress, Address: k.Address}) || ab.kind != addressRun {
		t.Fatal("an address delete did not start an address run")
	}
	if !ab.accepts(&state.Op{Kind: state.DeleteAddress, Address: other.Address}) || ab.accepts(del(cip(other))) {
		t.Error("an address run takes another address delete and no member operation")
	}
}

// A cold sync whose address runs are sent without waiting ends as one that
// sends them in turn: the same kernel, cache, problems, failures, skips and
// retries, also when address adds fail (per object, or node-level). And
// apply does go on with the IPVS work meanwhile: the links send no address
// before IPVS has taken a virtual server; the runs (8 of 16 and one of 8)
// reach the kernel one after the other, in plan order, although they are
// all held back at once.
func TestAsyncAddressRunsSameAsInTurn(t *testing.T) {
	const services = 120 // > asyncAddrMin addresses
	oldOps := batchOps
	batchOps = 16
	defer func() { batchOps = oldOps }()
	for _, tc := range []struct {
		name   string
		inject func(fk *fakeKernel)
	}{
		{"no failure", func(*fakeKernel) {}},
		{"an address refused", func(fk *fakeKernel) { fk.links.FailNext(netif.OpAddAddress, syscall.EINVAL) }},
		{"the dummy link gone", func(fk *fakeKernel) { fk.links.FailNext(netif.OpAddAddress, syscall.ENODEV) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(async bool) (string, Result, error) {
				old := asyncAddrMin
				asyncAddrMin = 1 << 30
				defer func() { asyncAddrMin = old }()
				fk := newFakeKernel()
				if async {
					asyncAddrMin = 1
					late := holdLinks(fk, nil)
					defer func() {
						if late.inVain.Load() || late.most != 1 || late.batches < 8 {
							t.Errorf("held back in vain: %v (apply waited for the addresses); %d batches, up to %d at once; want 8 or more, one at a time",
								late.inVain.Load(), late.batches, late.most)
						}
					}()
				}
				r := newTestReconciler(t, fk)
				tc.inject(fk)
				res, err := r.Full(context.Background(), benchSource(services))
				fk.ipvs.Inject(nil)
				assertCacheTruthful(t, r)
				if l, ok := fk.Kernel.Links.(*lateLinks); ok && !slices.Equal(l.sent, res.Plan.AddAddresses) {
					t.Errorf("addresses sent in the order\n%v\nwant the plan's\n%v", l.sent, res.Plan.AddAddresses)
				}
				return fk.dump(), res, err
			}
			inTurn, resTurn, errTurn := run(false)
			async, resAsync, errAsync := run(true)
			if (errTurn == nil) != (errAsync == nil) {
				t.Fatalf("error in turn %v, sent without waiting %v", errTurn, errAsync)
			}
			if errTurn != nil && !perObject(errTurn) {
				// A node-level failure stops apply when the run is settled:
				// the asynchronous sync got further, and both are recorded
				// truthfully (assertCacheTruthful); the next full sync mends both.
				return
			}
			if inTurn != async {
				t.Errorf("kernel differs:\nin turn:\n%s\nwithout waiting:\n%s", inTurn, async)
			}
			if fmt.Sprint(resTurn.Problems) != fmt.Sprint(resAsync.Problems) || fmt.Sprint(resTurn.Failed) != fmt.Sprint(resAsync.Failed) ||
				resTurn.Skipped != resAsync.Skipped || !slices.Equal(resTurn.Retry, resAsync.Retry) {
				t.Errorf("results differ:\nin turn: %+v\nwithout waiting: %+v", resTurn, resAsync)
			}
		})
	}
}

// lateLinks sends an address batch only once vs is closed, or after a
// while (inVain tells; no test deadlocks on it), and records the
// addresses sent, in order, and how many batches were under way at once.
type lateLinks struct {
	*netif.Fake
	vs                 chan struct{}
	inVain             atomic.Bool
	mu                 sync.Mutex
	sent               []netip.Addr
	now, most, batches int
}

// holdLinks makes fk's links a lateLinks whose vs is closed by the first
// virtual-server add, after calling first (if not nil).
func holdLinks(fk *fakeKernel, first func()) *lateLinks {
	l := &lateLinks{Fake: fk.links, vs: make(chan struct{})}
	var once sync.Once
	fk.ipvs.Inject(func(op ipvs.Op, _ ipvs.Key) error {
		if op == ipvs.OpAddVirtualServer {
			once.Do(func() {
				if first != nil {
					first()
				}
				close(l.vs)
			})
		}
		return nil
	})
	fk.Kernel.Links = l
	return l
}

func (l *lateLinks) Batch(ctx context.Context, ops []netif.BatchOp) []error {
	l.mu.Lock()
	l.now, l.batches = l.now+1, l.batches+1
	l.most = max(l.most, l.now)
	l.mu.Unlock()
	select {
	case <-l.vs:
	case <-time.After(20 * time.Second):
		l.inVain.Store(true)
	}
	errs := l.Fake.Batch(ctx, ops)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now--
	for _, op := range ops[:len(errs)] {
		l.sent = append(l.sent, op.Addr)
	}
	return errs
}

// A sync cancelled while its address runs are still unsent (the links wait
// for the first virtual server, whose add cancels) reports the
// cancellation, sends none of them, records the cache truthfully and
// leaves the kernel crash-safe: a fresh process converges from it.
func TestCancelledAsyncAddressRuns(t *testing.T) {
	old := asyncAddrMin
	asyncAddrMin = 1
	defer func() { asyncAddrMin = old }()
	fk := newFakeKernel()
	ctx, cancel := context.WithCancel(context.Background())
	late := holdLinks(fk, cancel)
	r := newTestReconciler(t, fk)
	src := benchSource(120)
	if _, err := r.Full(ctx, src); !errors.Is(err, context.Canceled) {
		t.Fatalf("Full err = %v, want cancelled", err)
	}
	fk.ipvs.Inject(nil)
	if late.inVain.Load() {
		t.Error("the address adds were sent before any virtual server: apply waited for them")
	}
	if c := fk.links.Calls(); c.AddAddress != 0 {
		t.Errorf("netif calls after cancel = %+v, want no address add", c)
	}
	assertCacheTruthful(t, r)
	assertLedgerCovers(t, fk)
	mustFull(t, newTestReconciler(t, fk), src)
	assertText(t, "kernel after recovery vs oracle", fk.dump(), oracle(t, src))
}

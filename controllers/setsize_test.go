package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// watchedSets is the ipset Fake with a check after every call that changes
// a set: each member in keep must still be in the set named set. It records
// what it finds missing rather than failing, so a test can check the checker.
type watchedSets struct {
	*ipset.Fake
	set    string
	keep   []ipset.Entry
	mu     sync.Mutex
	checks int
	gaps   []string
}

func (w *watchedSets) check(op string) {
	got, err := w.Fake.List(w.set)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checks++
	if err != nil {
		w.gaps = append(w.gaps, fmt.Sprintf("after %s: %v", op, err))
		return
	}
	for _, e := range w.keep {
		if !slices.Contains(got, e) {
			w.gaps = append(w.gaps, fmt.Sprintf("after %s: %s missing from %s", op, e, w.set))
		}
	}
}

func (w *watchedSets) Ensure(s ipset.Set) error {
	defer w.check("ensure " + s.Name)
	return w.Fake.Ensure(s)
}

func (w *watchedSets) Add(name string, e ipset.Entry) error {
	defer w.check("add " + name)
	return w.Fake.Add(name, e)
}

func (w *watchedSets) AddAll(name string, es []ipset.Entry) error {
	defer w.check("addall " + name)
	return w.Fake.AddAll(name, es)
}

func (w *watchedSets) Del(name string, e ipset.Entry) error {
	defer w.check("del " + name)
	return w.Fake.Del(name, e)
}

func (w *watchedSets) Destroy(name string) error {
	defer w.check("destroy " + name)
	return w.Fake.Destroy(name)
}

// Batch runs the adds and deletes through the checked calls (and counts a
// batch on the Fake), so a batched apply is watched as closely.
func (w *watchedSets) Batch(ctx context.Context, ops []ipset.BatchOp) []error {
	w.Fake.Batch(ctx, nil)
	return ipset.OneByOne(ctx, w, ops)
}

func (w *watchedSets) Swap(a, b string) error {
	defer w.check("swap " + a + " " + b)
	return w.Fake.Swap(a, b)
}

// smallSetsSource has Services svc-0..svc-(n-1), one TCP port each and one
// endpoint 10.244.0.(i+1) each.
func smallSetsSource(src *mapSource, from, to int) []types.NamespacedName {
	var names []types.NamespacedName
	for i := from; i < to; i++ {
		name := fmt.Sprintf("svc-%d", i)
		names = append(names, src.put(service("default/"+name, fmt.Sprintf("10.96.0.%d", i+1), tcp("http", 80)),
			epSlice("default/"+name+"-1", name, "http", "", 8080, fmt.Sprintf("10.244.0.%d", i+1))))
	}
	return names
}

// The ClusterIP ledger set, made with maxelem 4 and referenced by a rule,
// must hold 10 members: the full sync grows it (swap, not destroy) and no
// member it held is missing after any call.
func TestFullSyncGrowsAFullSetWithoutAGap(t *testing.T) {
	fk := newFakeKernel()
	cip := desired.Sets(mustKey("tcp 10.96.0.1:80").Address).ClusterIP
	small := ipset.Set{Name: cip, Type: ipset.HashIPPort, Family: ipset.FamilyInet, MaxElem: 4}
	if err := fk.sets.Ensure(small); err != nil {
		t.Fatal(err)
	}
	fk.sets.Reference(cip) // as the iptables rule matching it does
	w := &watchedSets{Fake: fk.sets, set: cip}
	fk.Kernel.Sets = w
	r := newTestReconciler(t, fk)
	src := newSource()
	smallSetsSource(src, 0, 3)
	mustFull(t, r, src)
	var err error
	if w.keep, err = fk.sets.List(cip); err != nil || len(w.keep) != 3 {
		t.Fatalf("ClusterIP ledger after the first sync: %v, %v", w.keep, err)
	}

	smallSetsSource(src, 3, 10)
	fk.resetCalls()
	mustFull(t, r, src)

	if len(w.gaps) > 0 || w.checks == 0 {
		t.Fatalf("%d checks; members missing:\n%s", w.checks, strings.Join(w.gaps, "\n"))
	}
	info, err := fk.sets.Info(cip)
	if err != nil || info.Size != 10 || info.MaxElem != ipset.MaxElem || info.References != 1 {
		t.Fatalf("ClusterIP ledger: %+v, %v; want 10 members, maxelem %d, the rule's reference", info, err, ipset.MaxElem)
	}
	if c := fk.sets.Calls(); c.Swap != 1 || c.Create != 1 || c.Info != len(desired.AllSets())+1 {
		t.Fatalf("ipset calls %+v: want one grow (one create, one swap) and one Info per set", c)
	}
	if got := fk.ipvs.String(); strings.Count(got, "-A -t ") != 10 {
		t.Fatalf("virtual servers:\n%s", got)
	}
	for _, s := range fk.sets.Sets() {
		if strings.HasSuffix(s.Name, ipset.TempSuffix) {
			t.Fatalf("temporary set %s left", s.Name)
		}
	}
	assertCacheTruthful(t, r)

	// The same sync again: nothing to grow, nothing to change.
	m := fk.resetCalls()
	res := mustFull(t, r, src)
	if !res.Plan.Empty() {
		t.Fatalf("second full sync plan:\n%s", res.Plan)
	}
	assertNoMutations(t, fk, m)
}

// The checker above must see a member go missing, or it proves nothing.
func TestWatchedSetsSeesAGap(t *testing.T) {
	f := ipset.NewFake()
	s := ipset.Set{Name: "S", Type: ipset.HashIPPort, Family: ipset.FamilyInet}
	e := ipset.Entry{IP: mustKey("tcp 10.96.0.1:80").Address, Protocol: "tcp", Port: 80}
	if err := errors.Join(f.Ensure(s), f.Add("S", e)); err != nil {
		t.Fatal(err)
	}
	w := &watchedSets{Fake: f, set: "S", keep: []ipset.Entry{e}}
	_ = w.Del("S", e)
	_ = w.Add("S", e)
	if len(w.gaps) != 1 || w.checks != 2 {
		t.Fatalf("gaps %v after %d checks, want the one after del", w.gaps, w.checks)
	}
}

// An incremental sync that overfills a set grows it itself: its add to the
// full ClusterIP ledger (maxelem 4, referenced by a rule) fails with
// ErrFull, the apply grows the set once for every add it still has (swap,
// no member missing after any call) and goes on; no full sync is needed.
func TestIncrementalPastMaxElemGrowsTheSet(t *testing.T) {
	fk := newFakeKernel()
	cip := desired.Sets(mustKey("tcp 10.96.0.1:80").Address).ClusterIP
	if err := fk.sets.Ensure(ipset.Set{Name: cip, Type: ipset.HashIPPort, Family: ipset.FamilyInet, MaxElem: 4}); err != nil {
		t.Fatal(err)
	}
	fk.sets.Reference(cip)
	w := &watchedSets{Fake: fk.sets, set: cip}
	fk.Kernel.Sets = w
	r := newTestReconciler(t, fk)
	src := newSource()
	smallSetsSource(src, 0, 4)
	mustFull(t, r, src)
	var err error
	if w.keep, err = fk.sets.List(cip); err != nil || len(w.keep) != 4 {
		t.Fatalf("ClusterIP ledger after the first sync: %v, %v", w.keep, err)
	}
	fk.resetCalls()
	names := smallSetsSource(src, 4, 7)
	res, err := r.Incremental(context.Background(), src, names)
	if err != nil || len(res.Failed) > 0 || len(res.Retry) > 0 {
		t.Fatalf("incremental sync past maxelem: %v, failed %v, retry %v", err, res.Failed, res.Retry)
	}
	if len(w.gaps) > 0 || w.checks == 0 {
		t.Fatalf("%d checks; members missing:\n%s", w.checks, strings.Join(w.gaps, "\n"))
	}
	if c := fk.sets.Calls(); c.Swap != 1 || c.Create != 1 {
		t.Fatalf("ipset calls %+v: want one grow (one create, one swap) for the three adds", c)
	}
	info, err := fk.sets.Info(cip)
	if err != nil || info.Size != 7 || info.MaxElem != ipset.MaxElem || info.References != 1 {
		t.Fatalf("ClusterIP ledger: %+v, %v; want 7 members, maxelem %d, the rule's reference", info, err, ipset.MaxElem)
	}
	if got := strings.Count(fk.ipvs.String(), "-A -t "); got != 7 {
		t.Fatalf("%d virtual servers, want 7", got)
	}
	assertCacheTruthful(t, r)
	// A full sync finds nothing left to do.
	if res := mustFull(t, r, src); !res.Plan.Empty() {
		t.Fatalf("full sync after the grow plans:\n%s", res.Plan)
	}
}

// A set that cannot grow (its grow's swap refused) leaves the add failed
// with ErrFull, node-level as before: the full sync the Runner retries with
// tries again.
func TestIncrementalPastMaxElemWhenTheGrowFails(t *testing.T) {
	fk := newFakeKernel()
	cip := desired.Sets(mustKey("tcp 10.96.0.1:80").Address).ClusterIP
	if err := fk.sets.Ensure(ipset.Set{Name: cip, Type: ipset.HashIPPort, Family: ipset.FamilyInet, MaxElem: 4}); err != nil {
		t.Fatal(err)
	}
	r := newTestReconciler(t, fk)
	src := newSource()
	smallSetsSource(src, 0, 4)
	mustFull(t, r, src)
	fk.sets.FailNext(ipset.OpSwap, errors.New("no memory"))
	names := smallSetsSource(src, 4, 6)
	_, err := r.Incremental(context.Background(), src, names)
	if !errors.Is(err, ipset.ErrFull) || !strings.Contains(fmt.Sprint(err), "no memory") {
		t.Fatalf("incremental sync whose grow fails: %v, want ErrFull and the grow's error", err)
	}
	if got := strings.Count(fk.ipvs.String(), "-A -t "); got != 4 {
		t.Fatalf("%d virtual servers, want the 4 whose ledger entries fit", got)
	}
	mustFull(t, r, src)
	if got := strings.Count(fk.ipvs.String(), "-A -t "); got != 6 {
		t.Fatalf("%d virtual servers after the full sync, want 6", got)
	}
	assertCacheTruthful(t, r)
}

// Every set of ours can grow: its temporary name fits the kernel's 31 bytes.
func TestEverySetHasATempName(t *testing.T) {
	for _, s := range desired.AllSets() {
		if _, err := ipset.TempName(s.Name); err != nil {
			t.Error(err)
		}
	}
}

// A process that died in ipset.Grow left NAME-tmp (not referenced by any
// rule): the next process's first full sync removes it, and only then.
func TestFirstFullSyncRemovesLeftOverTempSets(t *testing.T) {
	fk := newFakeKernel()
	hp := desired.SetsOf("inet").Hairpin
	tmp := ipset.Set{Name: hp + ipset.TempSuffix, Type: ipset.HashIPPortIP, Family: ipset.FamilyInet}
	if err := fk.sets.Ensure(tmp); err != nil {
		t.Fatal(err)
	}
	r := newTestReconciler(t, fk)
	src := newSource()
	smallSetsSource(src, 0, 2)
	mustFull(t, r, src)
	for _, s := range fk.sets.Sets() {
		if strings.HasSuffix(s.Name, ipset.TempSuffix) {
			t.Fatalf("left-over %s still there", s.Name)
		}
	}
	if c := fk.sets.Calls(); c.Destroy != 1 {
		t.Fatalf("%d destroys, want the one of the left-over set", c.Destroy)
	}
	fk.resetCalls()
	mustFull(t, r, src)
	if c := fk.sets.Calls(); c.Info != len(desired.AllSets()) || c.Destroy != 0 {
		t.Fatalf("second full sync: ipset calls %+v, want one Info per set and nothing else", c)
	}
}

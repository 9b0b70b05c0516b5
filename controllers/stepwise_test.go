package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// stepwiseProperty drives a Reconciler over k with the random changes of
// TestReconcilerProperty (world.change), without injected faults: random
// interleavings of full and incremental syncs, and now and then a ledger
// set flushed behind our back (the next sync is then a full one, which
// repairs it). After every sync the kernel, read through k's interfaces
// (kernelText), equals the oracle's (a fresh Full on the fakes) and the
// cache equals the kernel. The fake-based TestReconcilerStepwise and the
// real-kernel TestKernelReconcilerProperty share it.
func stepwiseProperty(t *testing.T, seed uint64, steps int, k Kernel) {
	r := rand.New(rand.NewPCG(seed, 0x1bad))
	rec := NewReconciler(k, testConfig())
	w := &world{r: r, src: newSource()}
	for range 3 {
		w.change()
	}
	ctx := context.Background()
	var pending []types.NamespacedName
	needFull := true
	for step := range steps {
		for range r.IntN(3) {
			pending = append(pending, w.change())
		}
		if rec.Synced() && r.IntN(8) == 0 {
			set := []string{"IPVS-PROXY-CLUSTER-IP", "IPVS-PROXY-NODE-PORT"}[r.IntN(2)]
			es, err := k.Sets.List(set)
			if err != nil && !errors.Is(err, ipset.ErrNotFound) {
				t.Fatal(err)
			}
			for _, e := range es {
				if err := k.Sets.Del(set, e); err != nil {
					t.Fatal(err)
				}
			}
			needFull = true
			t.Logf("step %d: ledger set %s flushed (%d members)", step, set, len(es))
		}
		full := needFull || r.IntN(5) == 0
		var res Result
		var err error
		if full {
			res, err = rec.Full(ctx, w.src)
		} else {
			res, err = rec.Incremental(ctx, w.src, pending)
		}
		if err != nil || len(res.Failed) > 0 {
			t.Fatalf("step %d (full=%v): err %v, failed %v", step, full, err, res.Failed)
		}
		pending = append(pending[:0], res.Retry...)
		needFull = false
		// Rules change only in full syncs: read them back only then (each
		// read is six iptables-save runs on the real kernel).
		assertText(t, fmt.Sprintf("step %d (full=%v): kernel vs oracle", step, full), kernelText(t, k, full), oracleText(t, w.src, full))
		assertCacheTruthful(t, rec)
		if t.Failed() {
			t.Fatalf("step %d (full=%v), plan:\n%s", step, full, res.Plan)
		}
	}
	if res, err := rec.Full(ctx, w.src); err != nil || !res.Plan.Empty() {
		t.Fatalf("last full sync: err %v, plan:\n%s", err, res.Plan)
	}
}

// oracleText is kernelText of the fakes after one Full of src.
func oracleText(t *testing.T, src Source, withRules bool) string {
	t.Helper()
	fk := newFakeKernel()
	if _, err := newTestReconciler(t, fk).Full(context.Background(), src); err != nil {
		t.Fatalf("oracle Full: %v", err)
	}
	return kernelText(t, fk.Kernel, withRules)
}

// kernelText is the canonical text of what we manage in k, read only through
// its interfaces (so the fakes and the real adapters print alike): IPVS as
// ipvsadm -Sn, the dummy link's addresses (but the link-local one the kernel
// gives every link), the members of each of our sets, and (withRules) our
// rules of each family.
func kernelText(t *testing.T, k Kernel, withRules bool) string {
	t.Helper()
	var b strings.Builder
	svcs, err := k.IPVS.Dump()
	if err != nil {
		t.Fatalf("ipvs dump: %v", err)
	}
	b.WriteString("# ipvsadm -Sn\n" + ipvs.Format(svcs))
	addrs, err := k.Links.Addresses(dummy)
	if err != nil {
		t.Fatalf("addresses of %s: %v", dummy, err)
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	b.WriteString("# " + dummy + "\n")
	for _, a := range addrs {
		if a.IsLinkLocalUnicast() {
			continue
		}
		b.WriteString(a.String() + "\n")
	}
	b.WriteString("# ipsets\n")
	for _, s := range desired.AllSets() {
		es, err := k.Sets.List(s.Name)
		if errors.Is(err, ipset.ErrNotFound) {
			b.WriteString(s.Name + " absent\n")
			continue
		}
		if err != nil {
			t.Fatalf("ipset list %s: %v", s.Name, err)
		}
		slices.SortFunc(es, ipset.Entry.Compare)
		for _, e := range es {
			b.WriteString(s.Name + " " + e.String() + "\n")
		}
	}
	for _, f := range []rules.Family{rules.IPv4, rules.IPv6} {
		if !withRules {
			break
		}
		rs, err := k.Rules.Dump(f)
		if err != nil {
			t.Fatalf("rules dump %s: %v", f, err)
		}
		b.WriteString(rs.String())
	}
	return b.String()
}

// The stepwise property on the fakes (the real kernel's twin is
// TestKernelReconcilerProperty): 20 seeds.
func TestReconcilerStepwise(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			stepwiseProperty(t, seed, 25, newFakeKernel().Kernel)
		})
	}
}

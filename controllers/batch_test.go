package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// oneByOne hides the fake's Batch: apply then makes one call per operation.
type oneByOne struct{ ipvs.Interface }

// oneByOneSets hides the ipset fake's Batch likewise.
type oneByOneSets struct{ ipset.Interface }

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
		name    string
		hook    func(op ipvs.Op, k ipvs.Key) error
		setHook func(op ipset.Op, set string, e ipset.Entry) error
	}{
		{"no failure", nil, nil},
		{"real servers refused mid-run", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddRealServer && k.Address == vip(5) {
				return syscall.EINVAL
			}
			return nil
		}, nil},
		{"virtual server refused, its real servers skipped", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddVirtualServer && (k.Address == vip(3) || k.Address == vip(40)) {
				return syscall.ERANGE
			}
			return nil
		}, nil},
		{"node-level failure mid-run", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddRealServer && k.Address == vip(7) {
				return errBoom
			}
			return nil
		}, nil},
		{"member adds refused mid-run, their virtual servers skipped", nil, func(op ipset.Op, set string, e ipset.Entry) error {
			if op == ipset.OpAdd && (e.IP == vip(5) || e.IP == vip(31)) {
				return syscall.EINVAL
			}
			return nil
		}},
		{"node-level member failure mid-run", nil, func(op ipset.Op, set string, e ipset.Entry) error {
			if op == ipset.OpAdd && e.IP == vip(9) && set == desired.Sets(e.IP).ClusterIP {
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
				if !batched {
					fk.Kernel.IPVS = oneByOne{fk.ipvs}
					fk.Kernel.Sets = oneByOneSets{fk.Kernel.Sets}
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
			if fk.ipvs.Batches() == 0 && tc.setHook == nil { // a node-level member failure stops the sync before
				t.Error("no batch was sent")
			}
			if fk1.ipvs.Batches() != 0 || fk1.sets.Batches() != 0 {
				t.Error("the one-by-one run batched")
			}
			if fk.sets.Batches() == 0 {
				t.Error("no member batch was sent")
			}
			if c, c1 := fk.sets.Calls(), fk1.sets.Calls(); c != c1 {
				t.Errorf("ipset calls batched %+v, one by one %+v", c, c1)
			}
			if c, c1 := fk.ipvs.Calls(), fk1.ipvs.Calls(); c.Mutations() != c1.Mutations() {
				t.Errorf("batched made %d requests, one by one %d", c.Mutations(), c1.Mutations())
			}
			if failed := !strings.Contains(batched, "failed: []") || !strings.HasPrefix(batched, "err: <nil>"); failed != (tc.hook != nil || tc.setHook != nil) {
				t.Errorf("failures %v, want %v:\n%s", failed, tc.hook != nil || tc.setHook != nil, batched)
			}
			assertText(t, "batched vs one by one", batched, single)
		})
	}
}

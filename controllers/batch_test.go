package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// oneByOne hides the fake's Batch: apply then makes one call per operation.
type oneByOne struct{ ipvs.Interface }

// Batched IPVS operations give what one call each gives, failures in the
// middle of a run included: the same kernel, cache, failures, skips and
// retries, and a node-level failure stops the sync at the same operation.
func TestBatchedApplyEqualsOneByOne(t *testing.T) {
	vip := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.96.0.%d", i)) }
	for _, tc := range []struct {
		name string
		hook func(op ipvs.Op, k ipvs.Key) error
	}{
		{"no failure", nil},
		{"real servers refused mid-run", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddRealServer && k.Address == vip(5) {
				return syscall.EINVAL
			}
			return nil
		}},
		{"virtual server refused, its real servers skipped", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddVirtualServer && (k.Address == vip(3) || k.Address == vip(40)) {
				return syscall.ERANGE
			}
			return nil
		}},
		{"node-level failure mid-run", func(op ipvs.Op, k ipvs.Key) error {
			if op == ipvs.OpAddRealServer && k.Address == vip(7) {
				return errBoom
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(batched bool) (string, *fakeKernel) {
				fk := newFakeKernel()
				if !batched {
					fk.Kernel.IPVS = oneByOne{fk.ipvs}
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
			if fk.ipvs.Batches() == 0 {
				t.Error("no batch was sent")
			}
			if fk1.ipvs.Batches() != 0 {
				t.Error("the one-by-one run batched")
			}
			if c, c1 := fk.ipvs.Calls(), fk1.ipvs.Calls(); c.Mutations() != c1.Mutations() {
				t.Errorf("batched made %d requests, one by one %d", c.Mutations(), c1.Mutations())
			}
			if failed := !strings.Contains(batched, "failed: []") || !strings.HasPrefix(batched, "err: <nil>"); failed != (tc.hook != nil) {
				t.Errorf("failures %v, want %v:\n%s", failed, tc.hook != nil, batched)
			}
			assertText(t, "batched vs one by one", batched, single)
		})
	}
}

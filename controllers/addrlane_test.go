package controllers

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// A cold sync that binds its addresses on the lane ends as one that binds
// them in turn: the same kernel, cache, problems, failures, skips and
// retries, also when address adds fail (per object, or node-level).
func TestAddrLaneSameAsInTurn(t *testing.T) {
	const services = 120 // > addrLaneMin addresses
	for _, tc := range []struct {
		name   string
		inject func(fk *fakeKernel)
	}{
		{"no failure", func(*fakeKernel) {}},
		{"an address refused", func(fk *fakeKernel) { fk.links.FailNext(netif.OpAddAddress, syscall.EINVAL) }},
		{"the dummy link gone", func(fk *fakeKernel) { fk.links.FailNext(netif.OpAddAddress, syscall.ENODEV) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(laneMin int) (string, Result, error) {
				old := addrLaneMin
				addrLaneMin = laneMin
				defer func() { addrLaneMin = old }()
				fk := newFakeKernel()
				r := newTestReconciler(t, fk)
				tc.inject(fk)
				res, err := r.Full(context.Background(), benchSource(services))
				assertCacheTruthful(t, r)
				return fk.dump(), res, err
			}
			inTurn, resTurn, errTurn := run(1 << 30)
			lane, resLane, errLane := run(1)
			if (errTurn == nil) != (errLane == nil) {
				t.Fatalf("error in turn %v, on the lane %v", errTurn, errLane)
			}
			if errTurn != nil && !perObject(errTurn) {
				// A node-level failure stops apply at its next join: the
				// lane's sync got further, and both are recorded truthfully
				// (assertCacheTruthful); the next full sync mends both.
				return
			}
			if inTurn != lane {
				t.Errorf("kernel differs:\nin turn:\n%s\non the lane:\n%s", inTurn, lane)
			}
			if fmt.Sprint(resTurn.Problems) != fmt.Sprint(resLane.Problems) || fmt.Sprint(resTurn.Failed) != fmt.Sprint(resLane.Failed) ||
				resTurn.Skipped != resLane.Skipped || !slices.Equal(resTurn.Retry, resLane.Retry) {
				t.Errorf("results differ:\nin turn: %+v\non the lane: %+v", resTurn, resLane)
			}
		})
	}
}

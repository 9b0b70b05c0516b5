package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// addrLaneMin is the number of address adds from which apply binds them on
// a goroutine of its own (a variable for the tests).
var addrLaneMin = 64

// addrLane binds the dummy link's new addresses on a goroutine of its own
// while apply goes on with the plan's next operations, the virtual and real
// servers. Nothing in a plan needs an added address (the kernel takes a
// virtual server on an address that is not bound), the address work runs
// under the kernel's rtnl lock and the IPVS work under IPVS's own mutex, so
// on a node with two CPUs both proceed at once: at 10,000 Services binding
// the ClusterIPs was a third of a cold sync, done before the first virtual
// server. Each address is still bound after its ledger members (they come
// first in the plan and apply sends them before handing the address over).
// Results are recorded by join, on apply's goroutine, in plan order, as if
// each call had been made in its turn; apply joins before an operation that
// could read them (anything but an add or update of a virtual or real
// server), before it disowns a virtual server, and before it returns.
type addrLane struct {
	in   chan addrJob
	out  chan addrJob
	jobs int
}

type addrJob struct {
	i   int
	op  state.Op
	err error
}

// laneBatch bounds the addresses the lane sends in one netif.Batcher call.
const laneBatch = 128

// startAddrLane starts the goroutine; n is how many addresses may come.
// It sends what is queued in batches when the link adapter batches, else
// one call each; once ctx is done the rest fail unsent.
func (r *Reconciler) startAddrLane(ctx context.Context, n int) *addrLane {
	l := &addrLane{in: make(chan addrJob, n), out: make(chan addrJob, n)}
	bt, _ := r.k.Links.(netif.Batcher)
	go func() {
		defer close(l.out)
		buf := make([]addrJob, 0, laneBatch)
		req := make([]netif.BatchOp, 0, laneBatch)
		for j := range l.in {
			buf = append(buf[:0], j)
		queued:
			for len(buf) < laneBatch {
				select {
				case j, ok := <-l.in:
					if !ok {
						break queued
					}
					buf = append(buf, j)
				default:
					break queued
				}
			}
			r.laneSend(ctx, bt, buf, req[:0])
			for _, j := range buf {
				l.out <- j
			}
		}
	}()
	return l
}

// laneSend makes the address adds of buf, setting each one's err.
func (r *Reconciler) laneSend(ctx context.Context, bt netif.Batcher, buf []addrJob, req []netif.BatchOp) {
	if err := ctx.Err(); err != nil {
		for k := range buf {
			buf[k].err = fmt.Errorf("not sent: %w", err)
		}
		return
	}
	if bt == nil {
		for k := range buf {
			buf[k].err = r.do(&buf[k].op)
		}
		return
	}
	for _, j := range buf {
		req = append(req, netif.BatchOp{Cmd: netif.BatchAddAddress, Link: r.cfg.DummyInterface, Addr: j.op.Address})
	}
	errs := bt.Batch(ctx, req)
	for k := range buf {
		if k < len(errs) {
			buf[k].err = errs[k]
		} else {
			buf[k].err = fmt.Errorf("not sent: the batch stopped before it: %w", cmp.Or(ctx.Err(), errLaneStopped))
		}
	}
}

var errLaneStopped = errors.New("an earlier request's outcome is unknown")

// take queues op i. It tells false when the lane is full (then op runs in
// its turn on apply's goroutine).
func (l *addrLane) take(i int, op *state.Op) bool {
	if l == nil || l.jobs == cap(l.in) {
		return false
	}
	o := *op
	o.Deps = nil // read once apply recorded its dependencies: the lane needs none
	l.in <- addrJob{i: i, op: o}
	l.jobs++
	return true
}

// join waits for the lane and records its results through x.result; the
// first node-level failure is returned. The lane is spent afterwards.
func (x *execution) join() error {
	l := x.lane
	if l == nil {
		return nil
	}
	x.lane = nil
	close(l.in)
	var first error
	for j := range l.out {
		if err := x.result(j.i, &j.op, j.err); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// laneKeepsGoing tells whether op may run while the lane binds addresses.
func laneKeepsGoing(k state.OpKind) bool {
	switch k {
	case state.AddAddress, state.AddService, state.UpdateService, state.AddRealServer, state.UpdateRealServer:
		return true
	}
	return false
}

package controllers

import (
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

// startAddrLane starts the goroutine; n is how many addresses may come.
func (r *Reconciler) startAddrLane(n int) *addrLane {
	l := &addrLane{in: make(chan addrJob, n), out: make(chan addrJob, n)}
	go func() {
		defer close(l.out)
		for j := range l.in {
			j.err = r.do(&j.op)
			l.out <- j
		}
	}()
	return l
}

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

package controllers

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The rolling audit's large reads (a ledger set, the dummy link's
// addresses, the list of virtual servers: at 10,000 Services each is tens
// of thousands of entries, up to a second under emulation) are made off the
// Runner's goroutine, so that a change never waits behind one. A step
// starts the read and returns; a later step handles what was read. The
// read also compares: the step that starts it notes what of the cache the
// compare needs (a set's members, the cached addresses, the cached virtual
// servers: readSet, audit.go; readAddresses and readServices,
// auditcompare.go), the read lists the kernel and returns only the
// differences, and the loop handles those. Applies meanwhile do not make a
// read stale: the members, addresses and virtual servers they change are
// noted (touch) and left out of the differences, so what changes all the
// time (a large ledger set, the virtual servers while Services come and go)
// is still audited off the loop. The adapters serve a read beside an
// apply: applies go through their batch sockets.

// auditRead is one read under way.
type auditRead struct {
	done chan struct{} // closed once val and err are set
	val  any
	err  error
}

// prefetched returns the result of the read for the audit's current
// phase: ready is false while a read runs off the loop (call again at the
// next step). begin runs on the loop when a read starts (it notes what the
// read will be compared with) and returns the read. A read that failed is
// made again in the step (the step may have mended its cause first, as the
// host step mends the dummy link). A read stays good through applies: its
// phase accounts for them itself (it drops the differences of what an apply
// touched meanwhile, see touch).
func (r *Reconciler) prefetched(begin func() func() (any, error)) (val any, err error, ready bool) {
	a := &r.audit
	inStep := func() (any, error, bool) {
		v, err := begin()()
		return v, err, true
	}
	if !r.asyncAudit {
		return inStep()
	}
	if p := a.read; p != nil {
		select {
		case <-p.done:
		default:
			return nil, nil, false
		}
		a.read = nil
		if p.err != nil {
			return inStep()
		}
		return p.val, nil, true
	}
	p := &auditRead{done: make(chan struct{})}
	read := begin()
	go func() {
		defer close(p.done)
		p.val, p.err = read()
	}()
	a.read = p
	return nil, nil, false
}

// touch notes that an apply changed member m in the kernel and the cache
// while a set's audit read was under way: the read may have listed the set
// before or after the change, so the set's compare leaves m alone (the
// cache, which the apply kept equal to the kernel, has its word).
func (r *Reconciler) touch(m state.Member) {
	if t := r.audit.touched; t != nil {
		t[m] = struct{}{}
	}
}

// touchAddress is touch for an address on the dummy link, while the host
// step's read is under way.
func (r *Reconciler) touchAddress(a netip.Addr) {
	if t := r.audit.touchedAddrs; t != nil {
		t[a] = struct{}{}
	}
}

// touchOp notes what a successful operation changed (touch, touchAddress;
// a virtual server's own fields for the list's read: its real servers are
// read by later steps, in the step).
func (r *Reconciler) touchOp(op *state.Op) {
	switch op.Kind {
	case state.AddMember, state.DeleteMember:
		r.touch(op.Member)
	case state.AddAddress, state.DeleteAddress:
		r.touchAddress(op.Address)
	case state.AddService, state.UpdateService, state.DeleteService:
		if t := r.audit.touchedKeys; t != nil {
			t[op.Service.Key] = struct{}{}
		}
	}
}

package controllers

import "github.com/ipvs-proxy/ipvs-proxy/state"

// The rolling audit's large reads (a ledger set, the dummy link's
// addresses, the list of virtual servers: at 10,000 Services each is tens
// of thousands of entries, up to a second under emulation) are made off the
// Runner's goroutine, so that a change never waits behind one. A step
// starts the read and returns; a later step compares what was read with
// the cache, on the Runner's goroutine as always, provided no apply has
// written the kernel since the read began (kernelGen): else the read is
// thrown away and made again. A set's read also compares: the step that
// starts it notes the cache's members of the set, the read lists the set
// and returns only the differences (readSet, audit.go). Applies meanwhile
// do not make it stale: the members they touch are noted (touch) and left
// out of the differences, so a set that changes all the time (a large
// ledger set while Services come and go) is still audited off the loop. After auditStaleMax reads in a row were
// thrown away (the kernel keeps changing), the read is made in the step
// itself, so the audit always goes on. The adapters serve a read beside an
// apply: applies go through their batch sockets.

// auditStaleMax bounds the reads in a row a step throws away.
const auditStaleMax = 3

// auditRead is one read under way.
type auditRead struct {
	gen  uint64        // kernelGen when it began
	keep bool          // whether it stays good through applies (a set's: see touched)
	done chan struct{} // closed once val and err are set
	val  any
	err  error
}

// prefetched returns the result of the read for the audit's current
// phase: ready is false while a read runs off the loop (call again at the
// next step). begin runs on the loop when a read starts (it may note what
// the read will be compared with) and returns the read. A read that failed
// is made again in the step (the step may have mended its cause first, as
// the host step mends the dummy link). A read made with keep stays good
// through applies: its phase accounts for them itself (a set's read drops
// the differences of members an apply touched meanwhile, see touched).
func (r *Reconciler) prefetched(keep bool, begin func() func() (any, error)) (val any, err error, ready bool) {
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
		if p.keep || p.gen == r.kernelGen {
			a.stale = 0
			return p.val, nil, true
		}
		a.stale++
	}
	if a.stale >= auditStaleMax {
		a.stale = 0
		return inStep()
	}
	p := &auditRead{gen: r.kernelGen, keep: keep, done: make(chan struct{})}
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

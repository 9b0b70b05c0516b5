package controllers

// The rolling audit's large reads (a ledger set, the dummy link's
// addresses, the list of virtual servers: at 10,000 Services each is tens
// of thousands of entries, up to a second under emulation) are made off the
// Runner's goroutine, so that a change never waits behind one. A step
// starts the read and returns; a later step compares what was read with
// the cache, on the Runner's goroutine as always, provided no apply has
// written the kernel since the read began (kernelGen): else the read is
// thrown away and made again. A set's read also compares: the step that
// starts it notes the cache's members of the set, the read lists the set
// and returns only the differences (readSet, audit.go); only an apply
// changes the cache between, and that makes the read stale. After auditStaleMax reads in a row were
// thrown away (the kernel keeps changing), the read is made in the step
// itself, so the audit always goes on. The adapters serve a read beside an
// apply: applies go through their batch sockets.

// auditStaleMax bounds the reads in a row a step throws away.
const auditStaleMax = 3

// auditRead is one read under way.
type auditRead struct {
	gen  uint64        // kernelGen when it began
	done chan struct{} // closed once val and err are set
	val  any
	err  error
}

// prefetched returns the result of the read for the audit's current
// phase: ready is false while a read runs off the loop (call again at the
// next step). begin runs on the loop when a read starts (it may note what
// the read will be compared with) and returns the read. A read that failed
// is made again in the step (the step may have mended its cause first, as
// the host step mends the dummy link).
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
		if p.gen == r.kernelGen {
			a.stale = 0
			return p.val, nil, true
		}
		a.stale++
	}
	if a.stale >= auditStaleMax {
		a.stale = 0
		return inStep()
	}
	p := &auditRead{gen: r.kernelGen, done: make(chan struct{})}
	read := begin()
	go func() {
		defer close(p.done)
		p.val, p.err = read()
	}()
	a.read = p
	return nil, nil, false
}

package netif

import (
	"context"
	"errors"
	"net/netip"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
)

// BatchCmd is the kind of one operation of a batch: the address binds and
// unbinds an executor sends in runs (a cold sync binds one address per
// Service IP to the dummy link).
type BatchCmd uint8

// The batchable operations; each is the Interface method of the same name.
const (
	BatchAddAddress BatchCmd = iota + 1
	BatchDelAddress
)

// BatchOp is one operation of a batch: Addr bound to or unbound from the
// link named Link.
type BatchOp struct {
	Cmd  BatchCmd
	Link string
	Addr netip.Addr
}

// Batcher is implemented by link adapters that send several requests at
// once (Kernel: one rtnetlink message per address, many per sendmsg,
// acknowledgements read in bulk).
type Batcher interface {
	// Batch runs ops in order, each exactly as its own Interface call
	// would: errs[i] is op i's error (nil when done), worded and wrapped as
	// that call's. An op the kernel refuses (an errno) does not stop the
	// ops after it, so no op of a batch may need another of the same batch
	// to have succeeded. errs is shorter than ops when Batch stopped early:
	// ctx was done before the rest was sent, or the last op of errs failed
	// without a kernel verdict (the batch could not be sent or its replies
	// not read: what happened to it and to the ops after it is unknown).
	Batch(ctx context.Context, ops []BatchOp) (errs []error)
}

var errUnknownBatchCmd = errors.New("netif: unknown batch command")

// errUnknown marks a batched request whose outcome was never read. It is
// no errno, so callers treat it as a node-level failure.
var errUnknown = errors.New("outcome unknown")

// call runs op through the single-request Interface method.
func (op BatchOp) call(i Interface) error {
	switch op.Cmd {
	case BatchAddAddress:
		return i.AddAddress(op.Link, op.Addr)
	case BatchDelAddress:
		return i.DelAddress(op.Link, op.Addr)
	}
	return invalid(errUnknownBatchCmd)
}

// OneByOne runs ops through i one request each, as Batch promises to:
// what Batch must equal. It checks ctx between requests.
func OneByOne(ctx context.Context, i Interface, ops []BatchOp) []error {
	return nlbatch.OneByOne(ctx, ops, func(op BatchOp) error { return op.call(i) }, verdict)
}

// verdict tells whether err judges the request: the kernel's answer (an
// errno) or the adapter's refusal of an invalid request it does not send;
// as opposed to a failure to ask (outcome unknown) or an error injected in
// a test, after which OneByOne stops, as Batch does.
func verdict(err error) bool {
	var errno syscall.Errno
	var ie *invalidError
	return errors.As(err, &errno) || errors.As(err, &ie)
}

// invalidError is a request refused before it is sent; it reads as the
// error it wraps.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

func invalid(err error) error {
	var ie *invalidError
	if err == nil || errors.As(err, &ie) {
		return err
	}
	return &invalidError{err}
}

var _ Batcher = (*Fake)(nil)

// Batch runs ops one by one (the Fake's links are all in memory), with the
// same fault injection and call counts as the single calls.
func (f *Fake) Batch(ctx context.Context, ops []BatchOp) []error {
	f.mu.Lock()
	f.batches++
	f.mu.Unlock()
	return OneByOne(ctx, f, ops)
}

// Batches is the number of Batch calls since NewFake.
func (f *Fake) Batches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

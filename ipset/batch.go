package ipset

import (
	"context"
	"errors"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
)

// BatchCmd is the kind of one operation of a batch: the member adds and
// deletes an executor sends in runs (a cold sync adds tens of thousands).
type BatchCmd uint8

// The batchable operations; each is the Interface method of the same name.
const (
	BatchAdd BatchCmd = iota + 1
	BatchDel
)

// BatchOp is one operation of a batch: Entry added to or deleted from the
// set named Set.
type BatchOp struct {
	Cmd   BatchCmd
	Set   string
	Entry Entry
}

// Batcher is implemented by ipset adapters that send several requests at
// once (Kernel: one netlink message per entry, many messages per sendmsg,
// acknowledgements read in bulk).
type Batcher interface {
	// Batch runs ops in order, each exactly as its own Interface call
	// would: errs[i] is op i's error (nil when done), worded and wrapped as
	// that call's (ErrFull, ErrNotFound, *Errno for errors.Is and As). An
	// op the kernel refuses does not stop the ops after it, so no op of a
	// batch may need another of the same batch to have succeeded. errs is
	// shorter than ops when Batch stopped early: ctx was done before the
	// rest was sent, or the last op of errs failed without a kernel verdict
	// (the batch could not be sent or its replies not read: what happened
	// to it and to the ops after it is unknown).
	Batch(ctx context.Context, ops []BatchOp) (errs []error)
}

var errUnknownBatchCmd = errors.New("ipset: unknown batch command")

// errUnknown marks a batched request whose outcome was never read. It is
// no errno, so callers treat it as a node-level failure.
var errUnknown = errors.New("outcome unknown")

// call runs op through the single-request Interface method.
func (op BatchOp) call(i Interface) error {
	switch op.Cmd {
	case BatchAdd:
		return i.Add(op.Set, op.Entry)
	case BatchDel:
		return i.Del(op.Set, op.Entry)
	}
	return invalid(errUnknownBatchCmd)
}

// OneByOne runs ops through i one request each, as Batch promises to:
// what Batch must equal. It checks ctx between requests.
func OneByOne(ctx context.Context, i Interface, ops []BatchOp) []error {
	return nlbatch.OneByOne(ctx, ops, func(op BatchOp) error { return op.call(i) }, verdict)
}

// verdict tells whether err judges the request: the kernel's answer (an
// errno, ipset's own numbers included), the Fake's (its sentinels), or the
// adapter's refusal of an invalid request it does not send; as opposed to a
// failure to ask (outcome unknown) or an error injected in a test, after
// which OneByOne stops, as Batch does.
func verdict(err error) bool {
	var errno syscall.Errno
	var ie *invalidError
	var ee *Errno
	return errors.As(err, &errno) || errors.As(err, &ee) || errors.As(err, &ie) ||
		errors.Is(err, ErrFull) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrBusy)
}

var _ Batcher = (*Fake)(nil)

// Batch runs ops one by one (the Fake's sets are all in memory), with the
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

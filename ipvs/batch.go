package ipvs

import (
	"context"
	"errors"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
)

// BatchCmd is the kind of one operation of a batch: the IPVS requests an
// executor sends in runs (a cold sync is mostly real-server adds).
type BatchCmd uint8

// The batchable operations; each is the Interface method of the same name.
const (
	BatchAddVirtualServer BatchCmd = iota + 1
	BatchAddRealServer
	BatchUpdateRealServer
	BatchDeleteRealServer
	BatchUpdateVirtualServer
	BatchDeleteVirtualServer
)

// BatchOp is one operation of a batch: VirtualServer is the one added or
// updated, or (only its Key) the one deleted or the one the real server
// belongs to; RealServer is unused for the virtual-server commands, and
// only its key counts for a delete.
type BatchOp struct {
	Cmd           BatchCmd
	VirtualServer VirtualServer
	RealServer    RealServer
}

// Batcher is implemented by IPVS adapters that send several requests at
// once (Kernel: one sendmsg per batch, acknowledgements read in bulk).
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

// call runs op through the single-request Interface method.
func (op BatchOp) call(i Interface) error {
	switch op.Cmd {
	case BatchAddVirtualServer:
		return i.AddVirtualServer(op.VirtualServer)
	case BatchAddRealServer:
		return i.AddRealServer(op.VirtualServer.Key, op.RealServer)
	case BatchUpdateRealServer:
		return i.UpdateRealServer(op.VirtualServer.Key, op.RealServer)
	case BatchDeleteRealServer:
		return i.DeleteRealServer(op.VirtualServer.Key, op.RealServer.RealServerKey)
	case BatchUpdateVirtualServer:
		return i.UpdateVirtualServer(op.VirtualServer)
	case BatchDeleteVirtualServer:
		return i.DeleteVirtualServer(op.VirtualServer.Key)
	}
	return errUnknownBatchCmd
}

// OneByOne runs ops through i one request each, as Batch promises to:
// what Batch must equal. It checks ctx between requests.
func OneByOne(ctx context.Context, i Interface, ops []BatchOp) []error {
	return nlbatch.OneByOne(ctx, ops, func(op BatchOp) error { return op.call(i) }, kernelVerdict)
}

// kernelVerdict tells whether err is the kernel's answer to a request (an
// errno), as opposed to a failure to ask.
func kernelVerdict(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno)
}

var _ Batcher = (*Fake)(nil)

// Batch runs ops one by one (the Fake's requests are all in memory), with
// the same fault injection and call counts as the single calls.
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

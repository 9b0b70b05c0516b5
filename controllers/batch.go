package controllers

import (
	"context"
	"fmt"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// batchOps is how many IPVS operations apply collects before it sends them
// (the adapter splits them further into what one sendmsg carries).
const batchOps = 1024

// opBatch collects a run of batchable IPVS operations (virtual-server and
// real-server adds, updates and deletes) for one ipvs.Batcher call. The
// kernel runs them in order, and a failure fails only its own operation,
// so apply sees the same results as from one call each; an operation joins
// the run only when none of its dependencies is in it, and any other
// operation sends the run first, so nothing runs before what it needs nor
// out of the plan's order. A nil *opBatch batches nothing.
type opBatch struct {
	to  ipvs.Batcher
	idx []int      // plan indexes of ops
	ops []state.Op // the run, in plan order
	req []ipvs.BatchOp
}

func (b *opBatch) len() int {
	if b == nil {
		return 0
	}
	return len(b.idx)
}

func (b *opBatch) full() bool { return len(b.idx) >= batchOps }

// accepts tells whether op may be made without sending the run first: the
// run is empty, or op is batchable and needs nothing in the run.
func (b *opBatch) accepts(op *state.Op) bool {
	if b.len() == 0 {
		return true
	}
	if _, ok := batchCmd(op.Kind); !ok {
		return false
	}
	first := b.idx[0]
	for _, d := range op.Deps {
		if d >= first {
			return false
		}
	}
	return true
}

// add puts op i in the run when it is batchable.
func (b *opBatch) add(i int, op *state.Op) bool {
	if b == nil {
		return false
	}
	cmd, ok := batchCmd(op.Kind)
	if !ok {
		return false
	}
	b.idx = append(b.idx, i)
	b.ops = append(b.ops, *op)
	b.req = append(b.req, ipvs.BatchOp{Cmd: cmd, VirtualServer: op.Service, RealServer: op.RealServer})
	return true
}

func batchCmd(k state.OpKind) (ipvs.BatchCmd, bool) {
	switch k {
	case state.AddService:
		return ipvs.BatchAddVirtualServer, true
	case state.AddRealServer:
		return ipvs.BatchAddRealServer, true
	case state.UpdateRealServer:
		return ipvs.BatchUpdateRealServer, true
	case state.DeleteRealServer:
		return ipvs.BatchDeleteRealServer, true
	case state.UpdateService:
		return ipvs.BatchUpdateVirtualServer, true
	case state.DeleteService:
		return ipvs.BatchDeleteVirtualServer, true
	}
	return 0, false
}

// flush sends the run and records each result as apply does for a single
// call. Every result is recorded, so the cache follows the kernel, even
// after a node-level failure, the first of which is returned; a run cut
// short by ctx returns the cancellation.
func (x *execution) flush(ctx context.Context) error {
	b := x.batch
	if b.len() == 0 {
		return nil
	}
	defer func() { b.idx, b.ops, b.req = b.idx[:0], b.ops[:0], b.req[:0] }()
	errs := b.to.Batch(ctx, b.req)
	var first error
	for j, err := range errs {
		if err := x.result(b.idx[j], &b.ops[j], err); err != nil && first == nil {
			first = err
		}
	}
	if first == nil && len(errs) < len(b.idx) {
		first = fmt.Errorf("apply stopped after %d of %d operations: %w", b.idx[len(errs)], x.plan.Len(), context.Cause(ctx))
	}
	return first
}

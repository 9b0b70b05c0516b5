package controllers

import (
	"context"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// batchKinds are the metric kinds of the batchable operations: the same as
// their single calls', so a dashboard counts a real-server add alike
// whether it went out alone or in a batch.
var batchKinds = map[ipvs.BatchCmd]string{
	ipvs.BatchAddVirtualServer:    "ipvs_add_virtual_server",
	ipvs.BatchAddRealServer:       "ipvs_add_real_server",
	ipvs.BatchUpdateRealServer:    "ipvs_update_real_server",
	ipvs.BatchDeleteRealServer:    "ipvs_delete_real_server",
	ipvs.BatchUpdateVirtualServer: "ipvs_update_virtual_server",
	ipvs.BatchDeleteVirtualServer: "ipvs_delete_virtual_server",
}

// Batch keeps the wrapped adapter's batching reachable through the
// counting wrapper (apply batches only when Kernel.IPVS is an
// ipvs.Batcher) and counts each operation of the batch. An adapter that
// cannot batch is called one request at a time through the counted methods.
func (c countedIPVS) Batch(ctx context.Context, ops []ipvs.BatchOp) []error {
	return countBatch(ctx, c.Interface, ops, c.m,
		func(op ipvs.BatchOp) string { return batchKinds[op.Cmd] },
		func() []error { return ipvs.OneByOne(ctx, c, ops) })
}

var _ ipvs.Batcher = countedIPVS{}

// setBatchKinds are the metric kinds of the batchable member operations,
// their single calls'.
var setBatchKinds = map[ipset.BatchCmd]string{
	ipset.BatchAdd: "ipset_add",
	ipset.BatchDel: "ipset_del",
}

// Batch keeps the wrapped adapter's batching reachable through the
// counting wrapper, as countedIPVS.Batch does, and counts each member add
// or delete of the batch as its single call.
func (c countedSets) Batch(ctx context.Context, ops []ipset.BatchOp) []error {
	return countBatch(ctx, c.Interface, ops, c.m,
		func(op ipset.BatchOp) string { return setBatchKinds[op.Cmd] },
		func() []error { return ipset.OneByOne(ctx, c, ops) })
}

var _ ipset.Batcher = countedSets{}

// addrBatchKinds are the metric kinds of the batchable address operations,
// their single calls'.
var addrBatchKinds = map[netif.BatchCmd]string{
	netif.BatchAddAddress: "link_add_address",
	netif.BatchDelAddress: "link_delete_address",
}

// Batch keeps the wrapped adapter's batching reachable through the
// counting wrapper, as countedIPVS.Batch does, and counts each address
// add or delete of the batch as its single call.
func (c countedLinks) Batch(ctx context.Context, ops []netif.BatchOp) []error {
	return countBatch(ctx, c.Interface, ops, c.m,
		func(op netif.BatchOp) string { return addrBatchKinds[op.Cmd] },
		func() []error { return netif.OneByOne(ctx, c, ops) })
}

var _ netif.Batcher = countedLinks{}

// batcher is what ipvs.Batcher, ipset.Batcher and netif.Batcher are, for
// their own operations.
type batcher[Op any] interface {
	Batch(ctx context.Context, ops []Op) []error
}

// countBatch is a counting wrapper's Batch: the wrapped adapter's own
// batch when it has one, each operation counted under kind, its single
// call's metric kind; else oneByOne, the wrapper's counted single calls.
func countBatch[Op any](ctx context.Context, wrapped any, ops []Op, m *metrics.Metrics, kind func(Op) string, oneByOne func() []error) []error {
	b, ok := wrapped.(batcher[Op])
	if !ok {
		return oneByOne()
	}
	errs := b.Batch(ctx, ops)
	for i, err := range errs {
		m.KernelOp(kind(ops[i]), err)
	}
	return errs
}

package controllers

import (
	"context"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
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
	b, ok := c.Interface.(ipvs.Batcher)
	if !ok {
		return ipvs.OneByOne(ctx, c, ops)
	}
	errs := b.Batch(ctx, ops)
	for i, err := range errs {
		c.m.KernelOp(batchKinds[ops[i].Cmd], err)
	}
	return errs
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
	b, ok := c.Interface.(ipset.Batcher)
	if !ok {
		return ipset.OneByOne(ctx, c, ops)
	}
	errs := b.Batch(ctx, ops)
	for i, err := range errs {
		c.m.KernelOp(setBatchKinds[ops[i].Cmd], err)
	}
	return errs
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
	b, ok := c.Interface.(netif.Batcher)
	if !ok {
		return netif.OneByOne(ctx, c, ops)
	}
	errs := b.Batch(ctx, ops)
	for i, err := range errs {
		c.m.KernelOp(addrBatchKinds[ops[i].Cmd], err)
	}
	return errs
}

var _ netif.Batcher = countedLinks{}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// batchOps is how many operations apply collects before it sends them
// (the adapter splits them further into what one sendmsg carries; a
// variable for the tests).
var batchOps = 1024

// opBatch collects a run of batchable operations for one Batch call: IPVS
// operations (virtual-server and real-server adds, updates and deletes) for
// an ipvs.Batcher, set member adds and deletes for an ipset.Batcher, or
// address adds and deletes (on the dummy link) for a netif.Batcher; a run
// is of one kind. The kernel runs them in order, and a
// failure fails only its own operation, so apply sees the same results as
// from one call each; an operation joins the run only when none of its
// dependencies is in it, and any other operation sends the run first, so
// nothing runs before what it needs nor out of the plan's order. The
// address runs of a plan with many address adds are sent without waiting
// (sendAsync) and recorded later, in plan order (settle). A nil *opBatch
// batches nothing; a nil Batcher leaves its kind unbatched.
type opBatch struct {
	to    ipvs.Batcher
	sets  ipset.Batcher
	links netif.Batcher
	// dev is the dummy link the address operations are about.
	dev string
	// kind is the run's.
	kind    runKind
	idx     []int      // plan indexes of ops
	ops     []state.Op // the run, in plan order
	req     []ipvs.BatchOp
	setReq  []ipset.BatchOp
	addrReq []netif.BatchOp
	// recorded are the addresses whose ClusterIP ledger members (see
	// lastRecord) the run adds or deletes.
	recorded map[netip.Addr]bool
	// async sends address runs without waiting (see sendAsync); sent are
	// those whose results are not recorded yet, in plan order.
	async bool
	sent  []*sent
}

// asyncAddrMin is the number of address adds from which a plan's address
// runs are sent without waiting (a variable for the tests).
var asyncAddrMin = 64

// sent is a run sent to the kernel: its operations (plan indexes idx) and
// their results, errs; fewer when the Batcher stopped early (stop: why, if
// ctx was done). done is closed once errs are there.
type sent struct {
	idx []int
	// ops are the run's operations; nil for a run sent without waiting,
	// whose ops are read from the plan when recorded (plan.At: 1,024
	// copies of a 300-byte Op per run were the cold sync's largest batch
	// garbage). That holds for address runs only: At drops Deps, which
	// disown reads for a virtual server found foreign (an IPVS run), so
	// the runs recorded at once keep their copies.
	ops  []state.Op
	errs []error
	stop error
	done chan struct{}
}

func (b *opBatch) len() int {
	if b == nil {
		return 0
	}
	return len(b.idx)
}

func (b *opBatch) full() bool { return len(b.idx) >= batchOps }

// accepts tells whether op may be made without sending the run first: the
// run is empty, or op is batchable, of the run's kind and needs nothing in
// the run. A member delete that lastRecord must judge waits for the run's
// members recording the same address to be recorded: lastRecord counts
// the cache's.
func (b *opBatch) accepts(op *state.Op) bool {
	if b.len() == 0 {
		return true
	}
	kind, ok := b.kindOf(op)
	if !ok || kind != b.kind {
		return false
	}
	first := b.idx[0]
	for _, d := range op.Deps {
		if d >= first {
			return false
		}
	}
	if op.Kind == state.DeleteMember {
		if _, ok, addr := ledger.Records(op.Member); ok && addr && b.recorded[op.Member.Entry.IP] {
			return false
		}
	}
	return true
}

// runKind is the kind of operations of a run, and of its Batcher.
type runKind uint8

const (
	ipvsRun runKind = iota
	memberRun
	addressRun
)

// kindOf tells whether op is batchable and, if so, in which kind of run.
func (b *opBatch) kindOf(op *state.Op) (runKind, bool) {
	switch op.Kind {
	case state.AddMember, state.DeleteMember:
		return memberRun, b.sets != nil
	case state.AddAddress, state.DeleteAddress:
		return addressRun, b.links != nil
	}
	_, ok := batchCmd(op.Kind)
	return ipvsRun, ok && b.to != nil
}

// add puts op i in the run when it is batchable.
func (b *opBatch) add(i int, op *state.Op) bool {
	if b == nil {
		return false
	}
	kind, ok := b.kindOf(op)
	if !ok {
		return false
	}
	if b.len() == 0 {
		b.kind = kind
	}
	b.idx = append(b.idx, i)
	b.ops = append(b.ops, *op)
	switch kind {
	case ipvsRun:
		cmd, _ := batchCmd(op.Kind)
		b.req = append(b.req, ipvs.BatchOp{Cmd: cmd, VirtualServer: op.Service, RealServer: op.RealServer})
		return true
	case addressRun:
		cmd := netif.BatchAddAddress
		if op.Kind == state.DeleteAddress {
			cmd = netif.BatchDelAddress
		}
		b.addrReq = append(b.addrReq, netif.BatchOp{Cmd: cmd, Link: b.dev, Addr: op.Address})
		return true
	}
	cmd := ipset.BatchAdd
	if op.Kind == state.DeleteMember {
		cmd = ipset.BatchDel
	}
	b.setReq = append(b.setReq, ipset.BatchOp{Cmd: cmd, Set: op.Member.Set, Entry: op.Member.Entry})
	if _, ok, addr := ledger.Records(op.Member); ok && addr {
		if b.recorded == nil {
			b.recorded = map[netip.Addr]bool{}
		}
		b.recorded[op.Member.Entry.IP] = true
	}
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
// call (record); an address run of a plan with many address adds is only
// sent (sendAsync).
func (x *execution) flush(ctx context.Context) error {
	b := x.batch
	if b.len() == 0 {
		return nil
	}
	if b.kind == addressRun && b.async {
		b.sendAsync(ctx)
		return nil
	}
	defer func() {
		b.idx, b.ops, b.req, b.setReq, b.addrReq = b.idx[:0], b.ops[:0], b.req[:0], b.setReq[:0], b.addrReq[:0]
		clear(b.recorded)
	}()
	var errs []error
	switch b.kind {
	case memberRun:
		errs = b.sets.Batch(ctx, b.setReq)
		x.growFull(ctx, errs)
	case addressRun:
		errs = b.links.Batch(ctx, b.addrReq)
	default:
		errs = b.to.Batch(ctx, b.req)
	}
	return x.record(&sent{idx: b.idx, ops: b.ops, errs: errs, stop: context.Cause(ctx)})
}

// record records the results of run s. Every result is recorded, so the
// cache follows the kernel, even after a node-level failure, the first of
// which is returned; a run cut short by ctx returns the cancellation.
func (x *execution) record(s *sent) error {
	var first error
	for j, err := range s.errs {
		var op state.Op
		if s.ops != nil {
			op = s.ops[j]
		} else {
			op = x.plan.At(s.idx[j])
		}
		if err := x.result(s.idx[j], &op, err); err != nil && first == nil {
			first = err
		}
	}
	if first == nil && len(s.errs) < len(s.idx) {
		first = fmt.Errorf("apply stopped after %d of %d operations: %w", s.idx[len(s.errs)], x.plan.Len(), s.stop)
	}
	return first
}

// sendAsync sends the address run on a goroutine of its own, after the
// runs sent before it, while apply goes on with the plan; settle records
// the results. Binding a ClusterIP costs the kernel a walk of the link's
// addresses: at 10,000 Services the binds were a third of a cold sync, all
// before the first virtual server. They run under the rtnl lock and the
// IPVS work under IPVS's own mutex, so two CPUs work at once. Each address
// is still bound after its ledger members (a member run is sent and
// recorded before the address run starts), and nothing in a plan needs an
// added address (the kernel takes a virtual server on an address not bound).
func (b *opBatch) sendAsync(ctx context.Context) {
	s := &sent{idx: b.idx, done: make(chan struct{})}
	var prev chan struct{}
	if n := len(b.sent); n > 0 {
		prev = b.sent[n-1].done
	}
	links, req := b.links, b.addrReq
	go func() {
		if prev != nil {
			<-prev
		}
		s.errs = links.Batch(ctx, req)
		s.stop = context.Cause(ctx)
		close(s.done)
	}()
	b.sent = append(b.sent, s)
	// The next run gets buffers of this one's size (growing each from nil
	// left garbage behind); ops stay, as the run keeps no copy of them.
	b.idx, b.ops, b.addrReq = make([]int, 0, cap(b.idx)), b.ops[:0], make([]netif.BatchOp, 0, cap(b.addrReq))
}

// settle waits for the runs sent without waiting and records their results
// in plan order, as if each had been sent in its turn; the first
// node-level failure is returned. Apply settles before an operation that
// could read them (waitsForAddresses), before it disowns a virtual server,
// and before it returns.
func (x *execution) settle() error {
	b := x.batch
	var first error
	for b != nil && len(b.sent) > 0 {
		s := b.sent[0]
		b.sent = b.sent[1:]
		<-s.done
		if err := x.record(s); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// waitsForAddresses tells whether an operation of kind k could read the
// results of address operations (the cache's addresses, or whether one
// failed): all but address adds and adds and updates of virtual and real
// servers, which need no address.
func waitsForAddresses(k state.OpKind) bool {
	switch k {
	case state.AddAddress, state.AddService, state.UpdateService, state.AddRealServer, state.UpdateRealServer:
		return false
	}
	return true
}

// growFull gives the member adds of the run (errs: their results) that a
// full set refused what apply gives a single one (growForAdds): each such
// set grows once, for what it holds after the run and every add of the
// plan, and its refused adds are tried again, in one more batch; errs
// takes their new results. A set that could not grow leaves its adds
// failed with ipset.ErrFull joined with why.
func (x *execution) growFull(ctx context.Context, errs []error) {
	b := x.batch
	var full map[string][]int // set -> run positions of its refused adds
	for j, err := range errs {
		if b.ops[j].Kind == state.AddMember && errors.Is(err, ipset.ErrFull) {
			if full == nil {
				full = map[string][]int{}
			}
			full[b.ops[j].Member.Set] = append(full[b.ops[j].Member.Set], j)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(full)) {
		js := full[name]
		var done []state.Op
		for j, err := range errs {
			if err == nil && b.ops[j].Member.Set == name {
				done = append(done, b.ops[j])
			}
		}
		ours, err := x.r.growSet(name, done, x.plan.AddMembers) // setsize.go
		if !ours {
			continue
		}
		if err != nil {
			for _, j := range js {
				errs[j] = errors.Join(errs[j], err)
			}
			continue
		}
		again := make([]ipset.BatchOp, len(js))
		for k, j := range js {
			again[k] = b.setReq[j]
		}
		// An add not tried again (ctx done) keeps its refusal.
		for k, err := range b.sets.Batch(ctx, again) {
			errs[js[k]] = err
		}
	}
}

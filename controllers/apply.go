package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Unowned stands in Result.Retry for failed operations on objects no Service
// wants any more (a stale virtual server that could not be deleted, say). Any
// Incremental sync retries those, whatever names it is given.
var Unowned = types.NamespacedName{}

// apply runs p's operations (state.Plan.Ops: one model of ordering) against
// the kernel and keeps the cache equal to it: each operation that succeeds is
// recorded, one that fails is not, and one whose dependency failed is
// skipped. A per-object failure (see perObject) is reported to the Services
// that want the object or a skipped dependent, listed in res for a retry,
// and does not fail the sync; a node-level failure stops the apply and is
// returned (one of an address run sent without waiting, batch.go, when it is
// settled). ctx is checked between operations: a cancelled apply stops at
// once, and what it leaves is crash-safe because every object is made after
// its ledger member and removed before it.
func (r *Reconciler) apply(ctx context.Context, p state.Plan, res *Result) (err error) {
	// The operations are made one at a time (All), never all held at once:
	// a cold sync at 100k Services has millions of them.
	total := p.Len()
	x := execution{r: r, plan: p, res: res, log: logr.FromContextOrDiscard(ctx).V(2),
		cause: make([]int32, total), errs: map[int]error{}}
	b := &opBatch{dev: r.cfg.DummyInterface}
	b.to, _ = r.k.IPVS.(ipvs.Batcher)
	b.sets, _ = r.k.Sets.(ipset.Batcher)
	b.links, _ = r.k.Links.(netif.Batcher)
	if b.to != nil || b.sets != nil || b.links != nil {
		x.batch = b
	}
	// Many address adds are sent without waiting (batch.go: sendAsync), and
	// recorded whatever stops apply.
	b.async = len(p.AddAddresses) >= asyncAddrMin
	defer func() {
		if serr := x.settle(); err == nil {
			err = serr
		}
	}()
	r.cache.Reserve(p)
	for i, o := range p.All(ledger.Records) {
		if r.crash.due(i, total) { // crashpoint.go
			logr.FromContextOrDiscard(ctx).Info("crash test hook: SIGKILL to ourselves", "operation", i, "of", total, "next", o.String())
			r.crash.kill()
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("apply stopped after %d of %d operations: %w", i-x.batch.len(), total, err)
		}
		op := &o
		// What op may need has run first (batch.go).
		if !x.batch.accepts(op) {
			if err := x.flush(ctx); err != nil {
				return err
			}
		}
		if waitsForAddresses(op.Kind) {
			if err := x.settle(); err != nil {
				return err
			}
		}
		if root := x.blocked(op); root >= 0 {
			x.cause[i] = int32(root) + 1
			res.Skipped++
			x.attribute(i, op, root)
			continue
		}
		if x.lastRecord(op) {
			continue // see lastRecord
		}
		if x.batch.add(i, op) {
			if x.batch.full() {
				if err := x.flush(ctx); err != nil {
					return err
				}
			}
			continue
		}
		err := r.do(op)
		if op.Kind == state.AddMember && errors.Is(err, ipset.ErrFull) {
			err = r.growForAdds(op, p.AddMembers, err) // setsize.go
		}
		if err := x.result(i, op, err); err != nil {
			return err
		}
	}
	if err := x.flush(ctx); err != nil {
		return err
	}
	if err := x.settle(); err != nil {
		return err
	}
	x.finish()
	return nil
}

// result records the outcome of op i: the cache follows a success, a
// per-object failure is reported and its dependents will be skipped, and a
// node-level failure is returned.
func (x *execution) result(i int, op *state.Op, err error) error {
	r, res := x.r, x.res
	if err == nil && x.records != nil {
		x.count(op)
	}
	if err == nil || (op.Kind == state.DeleteRealServer || op.Kind == state.DeleteService) && missing(err) {
		op.ApplyTo(&r.cache)
		r.shareDone(op) // share.go
		r.touchOp(op)   // auditread.go
		if x.log.Enabled() {
			x.log.Info("kernel changed", "op", op.String())
		}
		return nil
	}
	err = fmt.Errorf("%s: %w", op.String(), err)
	if !perObject(err) {
		return err
	}
	x.cause[i] = int32(i) + 1
	res.Failed = append(res.Failed, err)
	x.errs[i] = err
	x.attribute(i, op, i)
	if op.Kind == state.AddService && errors.Is(err, syscall.EEXIST) {
		return x.disown(i, op)
	}
	return nil
}

// do makes the kernel call of one operation.
func (r *Reconciler) do(op *state.Op) error {
	k, dev := r.k, r.cfg.DummyInterface
	switch op.Kind {
	case state.AddMember:
		return k.Sets.Add(op.Member.Set, op.Member.Entry)
	case state.AddAddress:
		return k.Links.AddAddress(dev, op.Address)
	case state.AddService:
		return k.IPVS.AddVirtualServer(op.Service)
	case state.UpdateService:
		return k.IPVS.UpdateVirtualServer(op.Service)
	case state.AddRealServer:
		return k.IPVS.AddRealServer(op.Service.Key, op.RealServer)
	case state.UpdateRealServer:
		return k.IPVS.UpdateRealServer(op.Service.Key, op.RealServer)
	case state.DeleteRealServer:
		return k.IPVS.DeleteRealServer(op.Service.Key, op.RealServer.RealServerKey)
	case state.DeleteService:
		return k.IPVS.DeleteVirtualServer(op.Service.Key)
	case state.DeleteAddress:
		return k.Links.DelAddress(dev, op.Address)
	case state.DeleteMember:
		return k.Sets.Del(op.Member.Set, op.Member.Entry)
	}
	return fmt.Errorf("unknown operation %v", op.Kind)
}

// execution is the bookkeeping of one apply: for every operation, whether it
// failed or was skipped and which failure was the root cause.
type execution struct {
	r    *Reconciler
	plan state.Plan // its ops are plan.All; plan.At(i) is op i without Deps
	res  *Result
	log  logr.Logger
	// batch holds IPVS, member or address operations not sent yet (nil: no batching).
	batch *opBatch
	// cause[i] is 0 while op i has not failed; else 1 + the index of the
	// failed op that made it fail or be skipped (itself, if it failed).
	cause []int32
	// errs are the errors of the failed ops, by index.
	errs map[int]error
	// told remembers which Service was told of which root failure.
	told map[told]struct{}
	// owned marks root failures some Service was told of.
	owned map[int]bool
	// records counts the ClusterIP members of the cache per address, once
	// lastRecord needs them.
	records map[netip.Addr]int
}

// lastRecord tells whether op deletes the last ClusterIP member recording an
// address that stays on the dummy link; such a delete is left out (the
// member outlives its virtual server, harmlessly, until a full sync removes
// both), or the address would be ours no more and never be removed. It
// happens when an incremental sync keeps an address that another Service
// wants while that Service's virtual server there turned out foreign.
func (x *execution) lastRecord(op *state.Op) bool {
	if op.Kind != state.DeleteMember {
		return false
	}
	_, ok, addr := ledger.Records(op.Member)
	if !ok || !addr {
		return false
	}
	a := op.Member.Entry.IP
	if _, on := x.r.cache.Addresses[a]; !on {
		return false
	}
	if x.records == nil {
		// Only the sets whose members record an address (not the NodePort
		// ledger, nor the hairpin and other sets): the cache keeps each
		// set apart, so this reads those sets alone.
		x.records = map[netip.Addr]int{}
		for _, f := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
			s := ledger.SetsFor(f)
			for _, name := range []string{s.ClusterIP, s.ExternalIP, s.LoadBalancer} {
				for m := range x.r.cache.Members.InSet(name) {
					if _, ok, addr := ledger.Records(m); ok && addr {
						x.records[m.Entry.IP]++
					}
				}
			}
		}
	}
	return x.records[a] <= 1
}

// count keeps records up to date after op succeeded.
func (x *execution) count(op *state.Op) {
	if op.Kind != state.AddMember && op.Kind != state.DeleteMember {
		return
	}
	if _, ok, addr := ledger.Records(op.Member); !ok || !addr {
		return
	}
	had := x.r.cache.Members.Has(op.Member)
	switch {
	case op.Kind == state.AddMember && !had:
		x.records[op.Member.Entry.IP]++
	case op.Kind == state.DeleteMember && had:
		x.records[op.Member.Entry.IP]--
	}
}

type told struct {
	root int
	n    types.NamespacedName
}

// blocked returns the root failure of a failed dependency of op, or -1.
func (x *execution) blocked(op *state.Op) int {
	for _, d := range op.Deps {
		if c := x.cause[d]; c != 0 {
			return int(c) - 1
		}
	}
	return -1
}

// attribute tells the Services that want op's virtual server of the root
// failure (once each), lists them for a retry, and puts op's object in the
// retry scope.
func (x *execution) attribute(i int, op *state.Op, root int) {
	r := x.r
	switch op.Kind {
	case state.AddMember, state.DeleteMember:
		r.retry.Members[op.Member] = struct{}{}
	case state.AddAddress, state.DeleteAddress:
		r.retry.Addresses[op.Address] = struct{}{}
	default:
		r.retry.Services[op.Service.Key] = struct{}{}
	}
	if x.owned == nil {
		x.owned, x.told = map[int]bool{}, map[told]struct{}{}
	}
	if _, seen := x.owned[root]; !seen {
		x.owned[root] = false
	}
	k, ok := op.VirtualServer()
	if !ok {
		return
	}
	for _, n := range r.index.Owners(k) {
		x.owned[root] = true
		if _, ok := x.told[told{root, n}]; ok {
			continue
		}
		x.told[told{root, n}] = struct{}{}
		msg := x.errs[root].Error()
		if root != i {
			msg = fmt.Sprintf("%s: skipped, it needs %s", op.String(), msg)
		}
		x.res.Problems[n] = append(x.res.Problems[n], msg)
		x.res.retry(n)
	}
}

// finish lists Unowned for a retry when some failure concerned no Service.
func (x *execution) finish() {
	for _, owned := range x.owned {
		if !owned {
			x.res.retry(Unowned)
			return
		}
	}
}

// disown takes back what this apply did to claim the virtual server of op i,
// which turned out to exist already and not be ours (see ledger.Disown); it
// counts as foreign until the next full sync. It returns a node-level
// failure of the address runs it settles first (whether k's address was
// added is read below), once it is done.
func (x *execution) disown(i int, op *state.Op) error {
	r := x.r
	k := op.Service.Key
	settleErr := x.settle()
	r.foreign[k] = struct{}{}
	// The member adds taken back count as failed from here on: what
	// depends on them (a later delete of the member they replace) is skipped.
	added := map[state.Member]bool{}
	for _, d := range op.Deps {
		if dop := x.plan.At(d); x.cause[d] == 0 && dop.Kind == state.AddMember {
			added[dop.Member] = true
			x.cause[d] = int32(i) + 1
		}
	}
	addrAdded := false
	for j := range i {
		if o := x.plan.At(j); o.Kind == state.AddAddress && o.Address == k.Address && x.cause[j] == 0 {
			addrAdded = true
		}
	}
	drop, dropAddr := ledger.Disown(k, func(m state.Member) bool { return added[m] }, addrAdded, r.cache.Members)
	// The address goes before the members that record it, as always.
	if dropAddr {
		if err := r.k.Links.DelAddress(r.cfg.DummyInterface, k.Address); err != nil {
			x.res.Failed = append(x.res.Failed, fmt.Errorf("addr del %s (disown %s): %w", k.Address, k, err))
			r.retry.Addresses[k.Address] = struct{}{}
		} else {
			delete(r.cache.Addresses, k.Address)
			r.touchAddress(k.Address)
			dropAddr = false
			// The address's own members (its VIPs entry) go with it.
			for _, m := range desired.AddressMembers(k.Address) {
				if !r.cache.Members.Has(m) {
					continue
				}
				if err := r.k.Sets.Del(m.Set, m.Entry); err != nil {
					x.res.Failed = append(x.res.Failed, fmt.Errorf("del %s %s (disown %s): %w", m.Set, m.Entry, k, err))
					r.retry.Members[m] = struct{}{}
					continue
				}
				r.cache.Members.Delete(m)
				r.touch(m)
			}
		}
	}
	for _, m := range drop {
		if _, _, addr := ledger.Records(m); addr && dropAddr {
			continue // the address is still there: keep it recorded
		}
		if err := r.k.Sets.Del(m.Set, m.Entry); err != nil {
			x.res.Failed = append(x.res.Failed, fmt.Errorf("del %s %s (disown %s): %w", m.Set, m.Entry, k, err))
			r.retry.Members[m] = struct{}{}
			continue
		}
		if _, _, addr := ledger.Records(m); addr && x.records != nil {
			x.records[m.Entry.IP]--
		}
		r.cache.Members.Delete(m)
		r.touch(m)
	}
	return settleErr
}

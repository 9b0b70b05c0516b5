package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
)

// Refresh is the periodic resync without its cost: it re-reads the node's
// addresses (one address dump) and recomputes only the Services whose
// objects changed since their fragment was built (all of them when the
// NodePort addresses changed; those with an external or LB IP that came or
// went when other local addresses did), plus the named ones, then applies what changed
// for them like Incremental. It reads nothing else from the kernel: drift is
// the rolling audit's (AuditStep). Call it after a successful Full.
func (r *Reconciler) Refresh(ctx context.Context, src Source, names []types.NamespacedName) (Result, error) {
	if err := r.refreshNode(ctx); err != nil {
		return Result{}, err
	}
	names = append(names, r.frags.stale(src)...)
	if len(names) == 0 {
		return Result{Problems: map[types.NamespacedName][]string{}}, nil
	}
	return r.Incremental(ctx, src, names)
}

// RefreshStep is the periodic refresh (every SyncPeriod) in bounded
// slices. Its first step reads the node's addresses; then it walks the
// Service names (a snapshot of the source's and the fragment cache's),
// checking at most limit per step and recomputing the stale ones; more tells
// that the refresh goes on.
//
// A change to a Service or its slices reaches it through its own
// incremental sync, so the walk is a net, not the path of changes: one walk
// over every Service is spread over the refreshes of an AuditPeriod, as the
// rolling audit spreads its reading of the kernel (at 10,000 Services,
// walking them all every 30 s was 2 % of a core under emulation, for
// nothing). When node-wide inputs changed (the node's addresses or labels
// made fragments stale), the refresh walks every Service at once. With the
// audit off (AuditPeriod 0), every refresh walks every Service.
func (r *Reconciler) RefreshStep(ctx context.Context, src Source, limit int) (res Result, more bool, err error) {
	rs := &r.refresh
	if rs.left == 0 { // a refresh begins
		if err := r.refreshNode(ctx); err != nil {
			return Result{}, false, err
		}
		all := r.frags.nodeWide || r.cfg.AuditPeriod <= 0 || r.cfg.SyncPeriod <= 0
		if rs.names == nil || all {
			r.frags.nodeWide = false
			rs.names, rs.pos = r.frags.names(src), 0
		}
		rs.left = len(rs.names) - rs.pos
		if !all {
			refreshes := max(int(r.cfg.AuditPeriod/r.cfg.SyncPeriod), 1)
			rs.left = min(rs.left, (len(rs.names)+refreshes-1)/refreshes)
		}
	}
	var stale []types.NamespacedName
	end := min(rs.pos+limit, rs.pos+rs.left)
	for _, n := range rs.names[rs.pos:end] {
		if r.frags.staleOne(src, n) {
			stale = append(stale, n)
		}
	}
	rs.left -= end - rs.pos
	rs.pos = end
	if rs.pos >= len(rs.names) {
		*rs = refreshState{} // the walk is over: the next refresh takes a new snapshot
	}
	more = rs.left > 0
	if len(stale) == 0 {
		return Result{Problems: map[types.NamespacedName][]string{}}, more, nil
	}
	res, err = r.Incremental(ctx, src, stale)
	return res, more, err
}

// refreshState is where the walk of RefreshStep is: names[pos:] are left
// to check, left of them in the refresh under way.
type refreshState struct {
	names []types.NamespacedName
	pos   int
	left  int
}

// refreshNode re-reads the node's addresses; when the NodePort ones or the
// Node object (SetNode) changed every fragment is stale, and the host
// settings and rules that depend on them are redone; when only other local
// addresses changed, the fragments of the Services whose external or LB
// IPs they are (see setLocalAddrs).
func (r *Reconciler) refreshNode(ctx context.Context) error {
	changed, err := r.readNodeAddrs()
	if err != nil {
		return err
	}
	if !changed && !r.nodeChanged {
		return nil
	}
	inUse := r.addrsInUse()
	if err := r.ensureHost(ctx, inUse); err != nil {
		return err
	}
	if err := r.ensureRules(inUse); err != nil {
		return err
	}
	r.nodeChanged = false
	return nil
}

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

// RefreshStep is Refresh in bounded slices: the first step of a round reads
// the node's addresses and takes a snapshot of the Service names (the
// source's and the fragment cache's); each step checks the next max of them
// and recomputes the stale ones. more tells that the round goes on.
func (r *Reconciler) RefreshStep(ctx context.Context, src Source, max int) (res Result, more bool, err error) {
	rs := &r.refresh
	if rs.names == nil {
		if err := r.refreshNode(ctx); err != nil {
			return Result{}, false, err
		}
		rs.names, rs.pos = r.frags.names(src), 0
	}
	var stale []types.NamespacedName
	end := min(rs.pos+max, len(rs.names))
	for _, n := range rs.names[rs.pos:end] {
		if r.frags.staleOne(src, n) {
			stale = append(stale, n)
		}
	}
	rs.pos = end
	more = rs.pos < len(rs.names)
	if !more {
		*rs = refreshState{}
	}
	if len(stale) == 0 {
		return Result{Problems: map[types.NamespacedName][]string{}}, more, nil
	}
	res, err = r.Incremental(ctx, src, stale)
	return res, more, err
}

// refreshState is where a stepped refresh round is.
type refreshState struct {
	names []types.NamespacedName
	pos   int
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

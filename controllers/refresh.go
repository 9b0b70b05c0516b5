package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// Refresh is the periodic resync without its cost: it re-reads the node's
// addresses (one address dump) and recomputes only the Services whose
// objects changed since their fragment was built (all of them when the
// node's addresses changed), plus the named ones, then applies what changed
// for them like Incremental. It reads nothing else from the kernel: drift is
// the rolling audit's (AuditStep). Call it after a successful Full.
func (r *Reconciler) Refresh(ctx context.Context, src Source, names []types.NamespacedName) (Result, error) {
	local, err := r.k.Links.LocalAddresses()
	if err != nil {
		return Result{}, fmt.Errorf("list node addresses: %w", err)
	}
	if r.setNodeAddrs(desired.NodePortAddresses(local, r.cfg.DummyInterface, r.cfg.NodePortPrefixes())) {
		// IPv6 forwarding and the rules depend on the node's addresses.
		if err := r.ensureHost(); err != nil {
			return Result{}, err
		}
		if err := r.ensureRules(); err != nil {
			return Result{}, err
		}
	}
	names = append(names, r.frags.stale(src)...)
	if len(names) == 0 {
		return Result{Problems: map[types.NamespacedName][]string{}}, nil
	}
	return r.Incremental(ctx, src, names)
}

// Package controllers turns the cluster's Services and EndpointSlices into
// kernel state. The Reconciler does one sync (compute -> observe -> diff ->
// apply); the Controller feeds it from informers through one coalesced,
// level-triggered Runner.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/state"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// Reconciler owns the desired-state index and a cache of what ipvs-proxy owns
// in the kernel. A full sync re-reads the kernel (one dump per object kind)
// and recomputes every Service; an incremental sync recomputes only the
// named Services and diffs only what they touch against the cache, so it
// costs O(changed Services). Not safe for concurrent use: the Runner calls it
// from one goroutine.
type Reconciler struct {
	k         Kernel
	cfg       v1alpha1.Config
	opt       desired.Options
	index     *desired.Index
	nodeAddrs []netip.Addr
	cache     state.State           // what we own in the kernel
	foreign   map[ipvs.Key]struct{} // virtual servers we did not create
	synced    bool                  // a full sync has run since start
	retry     state.Scope           // objects whose last operation failed or was skipped
	lost      ledger.Lost           // lost ledger records of virtual servers not re-adopted yet
}

// NewReconciler returns a Reconciler; cfg must be valid.
func NewReconciler(k Kernel, cfg v1alpha1.Config) *Reconciler {
	return &Reconciler{
		k:       k,
		cfg:     cfg,
		opt:     desired.OptionsFrom(cfg),
		index:   desired.NewIndex(),
		cache:   state.New(),
		foreign: map[ipvs.Key]struct{}{},
		retry:   state.NewScope(),
	}
}

// Result tells what a sync did.
type Result struct {
	Full bool
	// Plan is what was applied (or attempted).
	Plan state.Plan
	// Problems are per-Service messages for Events: invalid objects, conflicts
	// with foreign virtual servers, failed kernel calls. A Service with none
	// is present with a nil slice when it was synced, so stale Events can be
	// cleared.
	Problems map[types.NamespacedName][]string
	// Failed are the per-object kernel failures (each error names its
	// operation); they do not fail the sync. The caller logs them once.
	Failed []error
	// Skipped counts operations not tried because one they need failed.
	Skipped int
	// Retry lists, without repetition, the Services with a failed or skipped
	// operation, to be retried incrementally (with backoff); Unowned stands
	// for objects no Service wants.
	Retry []types.NamespacedName
	// Repaired counts the virtual servers re-adopted in place after the
	// ownership ledger was found lost (see ledger.Adopt).
	Repaired int
}

// retry lists n in Retry once.
func (res *Result) retry(n types.NamespacedName) {
	if !slices.Contains(res.Retry, n) {
		res.Retry = append(res.Retry, n)
	}
}

// Synced tells whether a full sync has run, so incremental syncs have a base.
func (r *Reconciler) Synced() bool { return r.synced }

// Full recomputes every Service, re-reads the kernel, and applies the difference.
func (r *Reconciler) Full(ctx context.Context, src Source) (Result, error) {
	res := Result{Full: true, Problems: map[types.NamespacedName][]string{}}
	// Node addresses first: ensureHost needs them to know whether IPv6 is in use.
	local, err := r.k.Links.LocalAddresses()
	if err != nil {
		return res, fmt.Errorf("list node addresses: %w", err)
	}
	r.nodeAddrs = desired.NodePortAddresses(local, r.cfg.DummyInterface, r.cfg.NodePortPrefixes())
	if err := r.ensureHost(); err != nil {
		return res, err
	}

	seen := map[types.NamespacedName]struct{}{}
	for _, svc := range src.Services() {
		n := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		seen[n] = struct{}{}
		r.index.Put(n, r.fragment(n, svc, src, res.Problems))
	}
	for _, n := range r.index.Names() {
		if _, ok := seen[n]; !ok {
			r.index.Put(n, state.State{})
		}
	}

	obs, err := r.observe()
	if err != nil {
		return res, err
	}
	want := r.index.All()
	res.Repaired, err = r.repair(&obs, want, &res)
	r.cache, r.foreign = obs.owned, make(map[ipvs.Key]struct{}, len(obs.foreign))
	for k := range obs.foreign {
		r.foreign[k] = struct{}{}
	}
	if err != nil {
		return res, err
	}
	if err := r.ensureRules(); err != nil {
		return res, err
	}
	r.dropConflicts(&want, res.Problems)
	res.Plan = state.Diff(want, r.cache)
	r.retry = state.NewScope() // a full diff covers everything
	err = r.apply(ctx, res.Plan, &res)
	r.synced = err == nil
	return res, err
}

// Incremental recomputes the named Services (deleted ones included) and
// applies only what changed for them.
func (r *Reconciler) Incremental(ctx context.Context, src Source, names []types.NamespacedName) (Result, error) {
	res := Result{Problems: map[types.NamespacedName][]string{}}
	// What failed before is diffed again, with the named Services.
	sc := r.retry
	r.retry = state.NewScope()
	for _, n := range names {
		svc, ok := src.Service(n)
		if !ok {
			sc.Union(r.index.Set(n, state.State{}))
			continue
		}
		sc.Union(r.index.Set(n, r.fragment(n, svc, src, res.Problems)))
	}
	want := r.index.Desired(sc)
	r.dropConflicts(&want, res.Problems)
	res.Plan = state.Diff(want, r.cache.Restrict(sc))
	return res, r.apply(ctx, res.Plan, &res)
}

// fragment computes the desired state of Service n and records its problems
// (nil when it has none, so stale Events can be cleared).
func (r *Reconciler) fragment(n types.NamespacedName, svc *corev1.Service, src Source, problems map[types.NamespacedName][]string) state.State {
	frag, err := desired.ForService(svc, src.Slices(n), r.nodeAddrs, r.opt)
	problems[n] = nil
	if err != nil {
		problems[n] = append(problems[n], err.Error())
	}
	return frag
}

// ensureHost sets the sysctls and creates the dummy link; each is
// a no-op when already right.
func (r *Reconciler) ensureHost() error {
	var errs []error
	ipv6 := slices.ContainsFunc(r.nodeAddrs, netip.Addr.Is6)
	if _, err := sysctl.Ensure(r.k.Sysctls, sysctl.Required(ipv6)); err != nil {
		errs = append(errs, err)
	}
	if err := r.k.Links.EnsureDummy(r.cfg.DummyInterface); err != nil {
		errs = append(errs, fmt.Errorf("dummy link %s: %w", r.cfg.DummyInterface, err))
	}
	return errors.Join(errs...)
}

// ensureRules installs our iptables rules where they differ from what the
// kernel holds (one iptables-save per family, one restore only on change).
func (r *Reconciler) ensureRules() error {
	for _, rs := range desired.Rules(r.cfg, r.nodeAddrs) {
		have, err := r.k.Rules.Dump(rs.Family)
		if err == nil && have.String() == rs.String() {
			continue
		}
		if err := r.k.Rules.Apply(rs); err != nil {
			return fmt.Errorf("rules (%s): %w", rs.Family, err)
		}
	}
	return nil
}

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
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
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

	obs, foreign, err := r.observe()
	if err != nil {
		return res, err
	}
	r.cache, r.foreign = obs, foreign
	if err := r.ensureRules(); err != nil {
		return res, err
	}
	want := r.index.All()
	r.dropConflicts(&want, res.Problems)
	res.Plan = state.Diff(want, r.cache)
	err = r.apply(ctx, res.Plan, res.Problems)
	r.synced = err == nil
	return res, err
}

// Incremental recomputes the named Services (deleted ones included) and
// applies only what changed for them.
func (r *Reconciler) Incremental(ctx context.Context, src Source, names []types.NamespacedName) (Result, error) {
	res := Result{Problems: map[types.NamespacedName][]string{}}
	sc := state.NewScope()
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
	return res, r.apply(ctx, res.Plan, res.Problems)
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

// dropConflicts removes from want every virtual server that exists in the
// kernel but is not ours (and its ledger entries): we never touch those. An
// address only such virtual servers need is dropped too: without a
// ClusterIP ledger entry carrying it, it would not be ours once added.
func (r *Reconciler) dropConflicts(want *state.State, problems map[types.NamespacedName][]string) {
	var addrs map[netip.Addr]struct{}
	defer func() {
		if len(addrs) == 0 {
			return
		}
		for m := range want.Members {
			if desired.RecordsAddress(m) {
				delete(addrs, m.Entry.IP)
			}
		}
		for a := range addrs {
			delete(want.Addresses, a)
			for _, m := range desired.AddressMembers(a) {
				delete(want.Members, m)
			}
		}
	}()
	for k := range want.Services {
		if _, ok := r.foreign[k]; !ok {
			continue
		}
		delete(want.Services, k)
		for _, m := range desired.LedgerMembers(k) {
			delete(want.Members, m)
		}
		if addrs == nil {
			addrs = map[netip.Addr]struct{}{}
		}
		addrs[k.Address] = struct{}{}
		for _, n := range r.index.Owners(k) {
			problems[n] = append(problems[n], fmt.Sprintf("virtual server %s already exists and was not created by ipvs-proxy; left alone", k))
		}
	}
}

// observe reads what ipvs-proxy owns in the kernel: the members of our sets
// (the ownership ledger), the virtual servers they record, and the dummy-link
// addresses they record. Every other virtual server is foreign. A set that
// is missing is created here (empty), so each set is dumped once per full sync.
func (r *Reconciler) observe() (state.State, map[ipvs.Key]struct{}, error) {
	obs := state.New()
	for _, s := range desired.AllSets() {
		entries, err := r.k.Sets.List(s.Name)
		if errors.Is(err, ipset.ErrNotFound) {
			entries, err = nil, r.k.Sets.Ensure(s)
		}
		if err != nil {
			return obs, nil, fmt.Errorf("observe: %w", err)
		}
		for _, e := range entries {
			obs.AddMember(s.Name, e)
		}
	}
	own := desired.OwnershipFrom(obs.Members)
	svcs, err := r.k.IPVS.Dump()
	if err != nil {
		return obs, nil, fmt.Errorf("observe: %w", err)
	}
	foreign := map[ipvs.Key]struct{}{}
	for _, s := range svcs {
		if !own.OwnsService(s.Key) {
			foreign[s.Key] = struct{}{}
			continue
		}
		obs.AddService(s.VirtualServer)
		for _, rs := range s.RealServers {
			obs.AddRealServer(s.Key, rs)
		}
	}
	addrs, err := r.k.Links.Addresses(r.cfg.DummyInterface)
	if err != nil {
		return obs, nil, fmt.Errorf("observe: %w", err)
	}
	for _, a := range addrs {
		if own.OwnsAddress(a) {
			obs.AddAddress(a)
		}
	}
	return obs, foreign, nil
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

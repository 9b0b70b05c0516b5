// Package controllers turns the cluster's Services and EndpointSlices into
// kernel state. The Reconciler does one sync (compute -> observe -> diff ->
// apply); the Controller feeds it from informers through one coalesced,
// level-triggered Runner.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
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
	nodeAddrs []netip.Addr // NodePort-eligible node addresses
	// localAddrs are all the node's local addresses (nodeaddrs.go).
	localAddrs []netip.Addr
	node       *corev1.Node // this node's Node (zone, podCIDRs, primary IPs); nil when unknown
	ipv6       bool         // IPv6 rules and sysctls are in place
	// nodeChanged: SetNode saw a change the rules have not followed yet.
	nodeChanged bool
	cache       state.State           // what we own in the kernel
	foreign     map[ipvs.Key]struct{} // virtual servers we did not create
	synced      bool                  // a full sync has run since start
	retry       state.Scope           // objects whose last operation failed or was skipped
	lost        ledger.Lost           // lost ledger records of virtual servers not re-adopted yet
	takeover    *takeoverState        // taking over from kube-proxy (takeover.go); nil when not

	drain        *drainer     // graceful termination (drain.go)
	hostReported bool         // host settings logged (host.go)
	frags        fragCache    // what each fragment was built from
	audit        auditState   // where the rolling kernel audit is
	asyncAudit   bool         // the audit's large reads run off the loop (auditread.go)
	refresh      refreshState // where a stepped refresh is
	crash        *crashPoint  // the crash test hook (crashpoint.go); nil when unset
}

// NewReconciler returns a Reconciler; cfg must be valid.
func NewReconciler(k Kernel, cfg v1alpha1.Config) *Reconciler {
	return &Reconciler{
		k:       k,
		cfg:     cfg,
		opt:     desired.OptionsFrom(cfg),
		index:   desired.NewIndex(),
		cache:   state.NewCache(),
		foreign: map[ipvs.Key]struct{}{},
		retry:   state.NewScope(),
		drain:   newDrainer(cfg.DrainTimeout),
		frags:   newFragCache(),
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
	// TakeOver is what a takeover from kube-proxy did (takeover.go); nil
	// when none is on.
	TakeOver *TakeOverResult
	// Drift counts, for an audit step, the kernel objects found differing
	// from what the cache says we programmed; Plan is their repair.
	Drift int
}

// retry lists n in Retry once.
func (res *Result) retry(n types.NamespacedName) {
	if !slices.Contains(res.Retry, n) {
		res.Retry = append(res.Retry, n)
	}
}

// SetNode gives the Reconciler this node's Node object (or nil): its zone
// label (topology hints), podCIDRs (detectLocalMode NodeCIDR) and IPs
// (nodePortAddresses "primary"). When one of those changed, every fragment
// is stale and the next Full or Refresh recomputes them, the node
// addresses and the rules.
func (r *Reconciler) SetNode(n *corev1.Node) {
	if nodeInputs(r.node) == nodeInputs(n) {
		r.node = n
		return
	}
	r.node = n
	r.opt = desired.OptionsFrom(r.cfg).WithNode(n)
	r.frags.invalidate()
	r.nodeChanged = true
}

// nodeInputs is what the desired state reads of a Node, as one comparable value.
func nodeInputs(n *corev1.Node) string {
	if n == nil {
		return ""
	}
	return fmt.Sprint(n.Labels[corev1.LabelTopologyZone], n.Spec.PodCIDRs, desired.PrimaryNodeIPs(n))
}

// addrsInUse are the node's NodePort addresses and every desired dummy-link
// address (cluster IPs): rules and sysctls follow each family among them.
func (r *Reconciler) addrsInUse() []netip.Addr {
	return slices.AppendSeq(slices.Clone(r.nodeAddrs), r.index.Addresses())
}

// Synced tells whether a full sync has run, so incremental syncs have a base.
func (r *Reconciler) Synced() bool { return r.synced }

// Full recomputes every Service, re-reads the kernel, and applies the difference.
func (r *Reconciler) Full(ctx context.Context, src Source) (Result, error) {
	res := Result{Full: true, Problems: map[types.NamespacedName][]string{}}
	// Node addresses first: ensureHost needs them to know whether IPv6 is in use.
	if _, err := r.readNodeAddrs(); err != nil {
		return res, err
	}

	// Only Services whose objects changed since their fragment was built
	// are recomputed; the others keep fragment and problems.
	seen := map[types.NamespacedName]struct{}{}
	for _, svc := range src.Services() {
		n := svc.name()
		seen[n] = struct{}{}
		refs := src.SliceVersions(n) // before any expansion: only unchanged Services skip
		if problem, ok := r.frags.current(n, svc, refs); ok {
			res.Problems[n] = problemList(problem)
			continue
		}
		r.index.PutClaim(svc.claim(), r.build(n, svc, src.Slices(n), refs, res.Problems))
	}
	for _, n := range r.index.Names() {
		if _, ok := seen[n]; !ok {
			r.index.Put(n, state.State{})
		}
	}
	for n := range r.frags.entries {
		if _, ok := seen[n]; !ok {
			r.frags.forget(n)
		}
	}
	r.frags.nodeWide = false // every fragment is current now

	// The desired state is read in place from the index (state.Wanted): a
	// copy of it all would be the sync's largest transient.
	var want state.Wanted = r.index
	// Every family in use: node addresses and cluster IPs alike.
	inUse := r.addrsInUse()
	if err := r.ensureHost(ctx, inUse); err != nil {
		return res, err
	}
	r.ipv6 = len(desired.Families(inUse)) > 1
	obs, err := r.observe()
	if err != nil {
		return res, err
	}
	if obs.kubeProxy, err = r.readKubeProxy(); err != nil {
		return res, err
	}
	res.Repaired, err = r.repair(&obs, want, &res)
	r.cache, r.foreign = obs.owned, make(map[ipvs.Key]struct{}, len(obs.foreign))
	for k := range obs.foreign {
		r.foreign[k] = struct{}{}
	}
	if err != nil {
		return res, err
	}
	if err := r.ensureRules(inUse); err != nil {
		return res, err
	}
	r.nodeChanged = false // the host settings and rules follow the Node now
	recordConflicts(r.index.ConflictsAll(), res.Problems)
	want = r.conflictDrops(want, res.Problems).without(want) // conflictdrops.go
	sizeErr := r.fitSets(want)                               // setsize.go
	res.Plan = r.drainPlan(state.DiffWanted(want, r.cache), true)
	r.retry = state.NewScope() // a full diff covers everything
	err = errors.Join(sizeErr, r.apply(ctx, res.Plan, &res))
	r.shareAll() // share.go: what neither observe nor apply shared
	r.cleanConntrack(ctx, res.Plan)
	if err == nil && r.takeover != nil {
		err = r.finishTakeOver(obs.kubeProxy, &res)
	}
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
			r.frags.forget(n)
			continue
		}
		sc.Union(r.index.SetClaim(svc.claim(), r.fragment(n, svc, src, res.Problems)))
	}
	want := r.index.Desired(sc)
	recordConflicts(r.index.Conflicts(sc), res.Problems)
	if err := r.ensureNewFamily(ctx, want); err != nil {
		return res, err
	}
	r.dropConflicts(&want, res.Problems)
	res.Plan = r.drainPlan(state.Diff(want, r.cache.Restrict(sc)), false)
	err := r.apply(ctx, res.Plan, &res)
	r.cleanConntrack(ctx, res.Plan)
	return res, err
}

// fragment computes the desired state of Service n and records its problems
// (nil when it has none, so stale Events can be cleared).
func (r *Reconciler) fragment(n types.NamespacedName, svc *slimService, src Source, problems map[types.NamespacedName][]string) state.State {
	refs := src.SliceVersions(n) // first: a slice changing in between makes the entry stale, not wrong
	return r.build(n, svc, src.Slices(n), refs, problems)
}

// build is fragment with the slices already read: it expands the cached
// Service svc for desired/ and remembers what the fragment was built from
// (svc itself, and refs: the identity of the cached slices sls were
// expanded from).
func (r *Reconciler) build(n types.NamespacedName, svc *slimService, sls []*discoveryv1.EndpointSlice, refs []sliceRef, problems map[types.NamespacedName][]string) state.State {
	frag, err := desired.ForServiceOn(svc.expand(), sls, r.nodeAddrsOf(), r.opt)
	problem := ""
	if err != nil {
		problem = err.Error()
	}
	problems[n] = problemList(problem)
	r.frags.record(n, svc, refs, problem)
	return frag
}

func problemList(p string) []string {
	if p == "" {
		return nil
	}
	return []string{p}
}

// setNodeAddrs records the node addresses NodePorts use; a change makes
// every fragment stale.
func (r *Reconciler) setNodeAddrs(addrs []netip.Addr) bool {
	if slices.Equal(addrs, r.nodeAddrs) {
		return false
	}
	r.nodeAddrs = addrs
	r.frags.invalidate()
	return true
}

// ensureNewFamily installs the IPv6 rules and sysctls when an incremental
// sync brings the first IPv6 address (a new IPv6 cluster IP on a node
// that had none), instead of waiting for the next full sync.
func (r *Reconciler) ensureNewFamily(ctx context.Context, want state.State) error {
	if r.ipv6 || len(desired.Families(slices.Collect(maps.Keys(want.Addresses)))) == 1 {
		return nil
	}
	inUse := r.addrsInUse()
	if err := r.ensureHost(ctx, inUse); err != nil {
		return err
	}
	if err := r.ensureRules(inUse); err != nil {
		return err
	}
	r.ipv6 = true
	return nil
}

// ensureHost sets the sysctls and creates the dummy link; each is
// a no-op when already right.
func (r *Reconciler) ensureHost(ctx context.Context, inUse []netip.Addr) error {
	var errs []error
	ipv6 := len(desired.Families(inUse)) > 1
	if err := r.ensureHostSettings(ctx, ipv6); err != nil {
		errs = append(errs, err)
	}
	if err := r.k.Links.EnsureDummy(r.cfg.DummyInterface); err != nil {
		errs = append(errs, fmt.Errorf("dummy link %s: %w", r.cfg.DummyInterface, err))
	}
	return errors.Join(errs...)
}

// ensureRules installs our iptables rules where they differ from what the
// kernel holds (one iptables-save per family, one restore only on change).
func (r *Reconciler) ensureRules(inUse []netip.Addr) error {
	return r.ensureRulesRead(inUse, nil)
}

// ruleFamilies are the families ensureRules writes for inUse.
func (r *Reconciler) ruleFamilies(inUse []netip.Addr) []rules.Family {
	var fs []rules.Family
	for _, rs := range desired.RulesFor(r.cfg, inUse, desired.PodCIDRs(r.node)) {
		fs = append(fs, rs.Family)
	}
	return fs
}

// ruleDump is one family's rules as read (Rules.Dump), or the error.
type ruleDump struct {
	rs  rules.Ruleset
	err error
}

// ensureRulesRead is ensureRules with some families' rules read already
// (the audit reads them off the loop); a family missing from read, or whose
// read failed, is read here.
func (r *Reconciler) ensureRulesRead(inUse []netip.Addr, read map[rules.Family]ruleDump) error {
	for _, rs := range desired.RulesFor(r.cfg, inUse, desired.PodCIDRs(r.node)) {
		d, ok := read[rs.Family]
		if !ok || d.err != nil {
			d.rs, d.err = r.k.Rules.Dump(rs.Family)
		}
		have, err := d.rs, d.err
		if err == nil && have.String() == rs.String() {
			continue
		}
		if err := r.k.Rules.Apply(rs); err != nil {
			return fmt.Errorf("rules (%s): %w", rs.Family, err)
		}
	}
	return nil
}

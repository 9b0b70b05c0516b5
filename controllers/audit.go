package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The rolling audit replaces the periodic full re-read of the kernel. A
// round is a sequence of bounded steps: one per ipset (the ownership ledger,
// one dump each), one for the host (sysctls, dummy link, rules, the link's
// addresses: one dump each), one for the list of virtual servers (one
// service dump), then the real servers of a share of our virtual servers per
// step (one destination dump each). Every step compares what it read with
// the cache of what we programmed; where they differ the cache takes the
// kernel's word and the difference is repaired through the normal Diff and
// apply, restricted to those keys. Between steps the Runner serves changes,
// so no change waits for more than one step.

// auditState is where the audit is in its round.
type auditState struct {
	phase int        // sets, then host, then services, then real servers
	keys  []ipvs.Key // our virtual servers, read in the services phase
	pos   int        // next index into keys
	read  *auditRead // the phase's read under way off the loop (auditread.go)
	stale int        // reads in a row thrown away
	// touched are the members applies changed since a set's read began
	// (nil when none is under way; auditread.go touch).
	touched map[state.Member]struct{}
}

// AuditStep runs the next step of the rolling audit and tells whether it
// finished a round. steps is how many steps a round should take (its
// period over the step interval): the real servers of our virtual servers
// are shared out over the steps left after the fixed phases. Call it after
// a successful Full.
func (r *Reconciler) AuditStep(ctx context.Context, steps int) (res Result, done bool, err error) {
	res.Problems = map[types.NamespacedName][]string{}
	sets := desired.AllSets()
	a := &r.audit
	var sc state.Scope
	// Sets come first: host and services judge ownership by the ledger.
	switch fixed := len(sets) + 2; {
	case a.phase < len(sets):
		s := sets[a.phase]
		v, rerr, ready := r.prefetched(true, func() func() (any, error) { return r.readSet(s.Name) })
		if !ready {
			return res, false, nil
		}
		d, _ := v.(setDiff)
		sc, err = r.auditSetFrom(s, d, rerr)
		a.phase++
	case a.phase == len(sets):
		v, _, ready := r.prefetched(false, func() func() (any, error) {
			fams := r.ruleFamilies(r.addrsInUse())
			return func() (any, error) { return r.readHost(fams), nil }
		})
		if !ready {
			return res, false, nil
		}
		h, _ := v.(hostRead)
		sc, err = r.auditHost(ctx, h)
		a.phase++
	case a.phase == len(sets)+1:
		v, rerr, ready := r.prefetched(false, func() func() (any, error) {
			return func() (any, error) { return r.k.IPVS.Services() }
		})
		if !ready {
			return res, false, nil
		}
		vss, _ := v.([]ipvs.VirtualServer)
		sc, err = r.auditServicesFrom(vss, rerr)
		a.phase++
	default:
		left := max(steps-fixed, 1)
		sc, err = r.auditRealServers(max((len(a.keys)+left-1)/left, 1))
		if err == nil && a.pos >= len(a.keys) {
			*a = auditState{}
			done = true
		}
	}
	if err != nil {
		*a = auditState{} // start over after the retry
		return res, done, fmt.Errorf("audit: %w", err)
	}
	res.Drift = len(sc.Services) + len(sc.Addresses) + len(sc.Members)
	if res.Drift == 0 {
		return res, done, nil
	}
	want := r.index.Desired(sc)
	r.dropConflicts(&want, res.Problems)
	res.Plan = state.Diff(want, r.cache.Restrict(sc))
	return res, done, r.apply(ctx, res.Plan, &res)
}

// auditSet reads one set (creating it when missing) and makes the cache's
// members of it equal to the kernel's; the scope is what differed.
func (r *Reconciler) auditSet(s ipset.Set) (state.Scope, error) {
	v, err := r.readSet(s.Name)()
	d, _ := v.(setDiff)
	return r.auditSetFrom(s, d, err)
}

// readSet notes the cache's members of set name (on the loop: it reads the
// cache) and returns the read of the set, which may run off the loop: it
// lists the set and compares it with what was noted, so that the loop
// only has the differences to handle (a ledger set at 10,000 Services has
// tens of thousands of members; comparing them took the loop 0.7 s under
// emulation). Members an apply changes meanwhile are noted (touch) and
// left out of the differences when they are handled (auditSetFrom).
func (r *Reconciler) readSet(name string) func() (any, error) {
	r.audit.touched = map[state.Member]struct{}{}
	var cached []ipset.Entry
	for m := range r.cache.Members.InSet(name) {
		cached = append(cached, m.Entry)
	}
	return func() (any, error) {
		entries, err := r.k.Sets.List(name)
		if err != nil {
			return setDiff{cached: cached}, err
		}
		return diffSet(entries, cached), nil
	}
}

// setDiff is how a set in the kernel and in the cache differ: the entries
// only the kernel has, and those only the cache has. cached is what the
// cache held (the whole of it, for a set found missing).
type setDiff struct {
	kernelOnly, cacheOnly, cached []ipset.Entry
}

// diffSet compares a set's entries in the kernel with those in the cache.
func diffSet(kernel, cached []ipset.Entry) setDiff {
	have := make(map[ipset.Entry]struct{}, len(kernel))
	for _, e := range kernel {
		have[e] = struct{}{}
	}
	var d setDiff
	for _, e := range cached {
		if _, ok := have[e]; ok {
			delete(have, e)
			continue
		}
		d.cacheOnly = append(d.cacheOnly, e)
	}
	for _, e := range kernel { // in the kernel's order
		if _, ok := have[e]; ok {
			d.kernelOnly = append(d.kernelOnly, e)
		}
	}
	return d
}

// auditSetFrom is auditSet with the set read and compared (d), or the
// error reading it: a missing set is made, and then holds none of what
// the cache had.
func (r *Reconciler) auditSetFrom(s ipset.Set, d setDiff, err error) (state.Scope, error) {
	sc := state.NewScope()
	touched := r.audit.touched
	r.audit.touched = nil
	if errors.Is(err, ipset.ErrNotFound) {
		d, err = setDiff{cacheOnly: d.cached}, r.k.Sets.Ensure(s)
	}
	if err != nil {
		return sc, err
	}
	for _, e := range d.kernelOnly {
		m := state.Member{Set: s.Name, Entry: e}
		if _, ok := touched[m]; ok {
			continue
		}
		if !r.cache.Members.Has(m) {
			sc.Members[m] = struct{}{}
			r.cache.AddMember(s.Name, e)
		}
	}
	for _, e := range d.cacheOnly {
		m := state.Member{Set: s.Name, Entry: e}
		if _, ok := touched[m]; ok {
			continue
		}
		if r.cache.Members.Has(m) {
			sc.Members[m] = struct{}{}
			r.cache.Members.Delete(m)
		}
	}
	return sc, nil
}

// hostRead is what the host step reads: the dummy link's addresses and our
// rules per family (iptables-save), each with its error.
type hostRead struct {
	addrs   []netip.Addr
	addrErr error
	rules   map[rules.Family]ruleDump
}

func (r *Reconciler) readHost(fams []rules.Family) hostRead {
	var h hostRead
	h.addrs, h.addrErr = r.k.Links.Addresses(r.cfg.DummyInterface)
	h.rules = make(map[rules.Family]ruleDump, len(fams))
	for _, f := range fams {
		rs, err := r.k.Rules.Dump(f)
		h.rules[f] = ruleDump{rs, err}
	}
	return h
}

// auditHost re-checks sysctls, the dummy link, that our sets exist, and the
// rules (each a no-op when right) and compares our addresses on the dummy
// link with the cache. What h holds was read before (what failed to read
// is read here, after the host is mended).
func (r *Reconciler) auditHost(ctx context.Context, h hostRead) (state.Scope, error) {
	sc := state.NewScope()
	inUse := r.addrsInUse()
	if err := r.ensureHost(ctx, inUse); err != nil {
		return sc, err
	}
	// A set destroyed since its step (its rules removed first: the kernel
	// refuses to destroy a referenced set) is made again, with its members,
	// before the rules that name it (iptables-restore fails on a missing set).
	for _, s := range desired.AllSets() {
		if _, err := r.k.Sets.Info(s.Name); !errors.Is(err, ipset.ErrNotFound) {
			continue
		}
		m, err := r.auditSet(s)
		if err != nil {
			return sc, err
		}
		for k := range m.Members {
			sc.Members[k] = struct{}{}
		}
	}
	if err := r.ensureRulesRead(inUse, h.rules); err != nil {
		return sc, err
	}
	addrs := h.addrs
	if h.addrErr != nil { // read again, now that the link is mended
		var err error
		if addrs, err = r.k.Links.Addresses(r.cfg.DummyInterface); err != nil {
			return sc, err
		}
	}
	own := ledger.ReadAddresses(r.cache.Members)
	have := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		if !own.OwnsAddress(a) {
			continue
		}
		have[a] = struct{}{}
		if _, ok := r.cache.Addresses[a]; !ok {
			sc.Addresses[a] = struct{}{}
			r.cache.AddAddress(a)
		}
	}
	for a := range r.cache.Addresses {
		if _, ok := have[a]; !ok {
			sc.Addresses[a] = struct{}{}
			delete(r.cache.Addresses, a)
		}
	}
	return sc, nil
}

// auditServicesFrom takes the list of virtual servers (vss, or the error
// reading it): foreign ones are noted, ours are
// compared with the cache (existence, scheduler, persistence) and queued for
// the real-server slices. One the cache does not know has its real servers
// read at once.
func (r *Reconciler) auditServicesFrom(vss []ipvs.VirtualServer, err error) (state.Scope, error) {
	sc := state.NewScope()
	if err != nil {
		return sc, err
	}
	foreign := map[ipvs.Key]struct{}{}
	keys := make([]ipvs.Key, 0, len(r.cache.Services))
	have := make(map[ipvs.Key]struct{}, len(vss))
	for _, vs := range vss {
		if !ledger.Owns(r.cache.Members, vs.Key) {
			foreign[vs.Key] = struct{}{}
			continue
		}
		have[vs.Key] = struct{}{}
		keys = append(keys, vs.Key)
		cached, ok := r.cache.Services[vs.Key]
		switch {
		case !ok:
			rss, _, err := r.k.IPVS.RealServers(vs.Key)
			if err != nil {
				return sc, err
			}
			r.cache.Services[vs.Key] = &state.Service{VirtualServer: vs, RealServers: state.NewRealServers(rss)}
			sc.Services[vs.Key] = struct{}{}
		case cached.VirtualServer != vs:
			r.cache.Services[vs.Key] = cached.WithVirtualServer(vs)
			sc.Services[vs.Key] = struct{}{}
		}
	}
	for k := range r.cache.Services {
		if _, ok := have[k]; !ok {
			sc.Services[k] = struct{}{}
			delete(r.cache.Services, k)
		}
	}
	r.foreign = foreign
	r.audit.keys, r.audit.pos = keys, 0
	return sc, nil
}

// auditRealServers reads the real servers of the next n queued virtual
// servers that are still ours and compares them with the cache.
func (r *Reconciler) auditRealServers(n int) (state.Scope, error) {
	sc := state.NewScope()
	a := &r.audit
	for ; n > 0 && a.pos < len(a.keys); a.pos++ {
		k := a.keys[a.pos]
		cached, ok := r.cache.Services[k]
		if !ok {
			continue // deleted since the round began
		}
		n--
		rss, _, err := r.k.IPVS.RealServers(k)
		if err != nil {
			return sc, err
		}
		if cached.RealServers.EqualSlice(rss) {
			continue
		}
		// A new Service value: Index fragments may share the old one's list.
		r.cache.Services[k] = &state.Service{VirtualServer: cached.VirtualServer, RealServers: state.NewRealServers(rss)}
		sc.Services[k] = struct{}{}
	}
	return sc, nil
}

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
	// touched are the members applies changed since a set's read began
	// (nil when none is under way; auditread.go touch); touchedAddrs and
	// touchedKeys likewise the addresses since the host's read began and
	// the virtual servers since the list's.
	touched      map[state.Member]struct{}
	touchedAddrs map[netip.Addr]struct{}
	touchedKeys  map[ipvs.Key]struct{}
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
		v, rerr, ready := r.prefetched(func() func() (any, error) { return r.readSet(s.Name) })
		if !ready {
			return res, false, nil
		}
		d, _ := v.(setDiff)
		sc, err = r.auditSetFrom(s, d, rerr)
		a.phase++
	case a.phase == len(sets):
		v, _, ready := r.prefetched(func() func() (any, error) {
			fams := r.ruleFamilies(r.addrsInUse())
			compare := r.readAddresses() // auditcompare.go
			return func() (any, error) { return r.readHost(fams, compare), nil }
		})
		if !ready {
			return res, false, nil
		}
		h, _ := v.(hostRead)
		sc, err = r.auditHost(ctx, h)
		a.phase++
	case a.phase == len(sets)+1:
		v, rerr, ready := r.prefetched(r.readServices) // auditcompare.go
		if !ready {
			return res, false, nil
		}
		d, _ := v.(servicesDiff)
		sc, err = r.auditServicesFrom(d, rerr)
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
	var d setDiff
	d.cacheOnly, d.kernelOnly = twoWay(cached, kernel)
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

// hostRead is what the host step reads: how the dummy link's addresses
// differ from the cached ones (auditcompare.go) and our rules per family
// (iptables-save), each with its error.
type hostRead struct {
	addrs   addrDiff
	addrErr error
	rules   map[rules.Family]ruleDump
}

// readHost reads the host; compare compares the link's addresses with the
// cache's (readAddresses).
func (r *Reconciler) readHost(fams []rules.Family, compare func([]netip.Addr) addrDiff) hostRead {
	var h hostRead
	var link []netip.Addr
	if link, h.addrErr = r.k.Links.Addresses(r.cfg.DummyInterface); h.addrErr == nil {
		h.addrs = compare(link)
	}
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
	touched := r.audit.touchedAddrs
	r.audit.touchedAddrs = nil
	d := h.addrs
	if h.addrErr != nil { // read again, now that the link is mended
		compare := r.readAddresses()
		r.audit.touchedAddrs = nil
		link, err := r.k.Links.Addresses(r.cfg.DummyInterface)
		if err != nil {
			return sc, err
		}
		d = compare(link)
	}
	// Each difference is checked against the cache as it is now, and one
	// an apply made during the read is the cache's (auditcompare.go). An
	// address the cache does not know is ours only if the ledger records
	// it: the ledger is read then, once (rare: drift, leftovers).
	var own *ledger.Ownership
	for _, a := range d.kernelOnly {
		if _, ok := touched[a]; ok {
			continue
		}
		if _, ok := r.cache.Addresses[a]; ok {
			continue
		}
		if own == nil {
			o := ledger.ReadAddresses(r.cache.Members)
			own = &o
		}
		if own.OwnsAddress(a) {
			sc.Addresses[a] = struct{}{}
			r.cache.AddAddress(a)
		}
	}
	for _, a := range d.cacheOnly {
		if _, ok := touched[a]; ok {
			continue
		}
		if _, ok := r.cache.Addresses[a]; ok {
			sc.Addresses[a] = struct{}{}
			delete(r.cache.Addresses, a)
		}
	}
	return sc, nil
}

// auditServicesFrom takes how the listed virtual servers differ from the
// cached ones (d, or the error listing them; readServices,
// auditcompare.go): foreign ones are noted, ours are made equal in the
// cache (existence, scheduler, persistence) and queued for the real-server
// slices. One the cache did not know has its real servers read at once.
// Each difference is checked against the cache as it is now, and a virtual
// server an apply changed during the read is the cache's.
func (r *Reconciler) auditServicesFrom(d servicesDiff, err error) (state.Scope, error) {
	sc := state.NewScope()
	touched := r.audit.touchedKeys
	r.audit.touchedKeys = nil
	if err != nil {
		return sc, err
	}
	foreign := map[ipvs.Key]struct{}{}
	keys := d.known
	for _, vs := range d.unknown {
		if _, ok := touched[vs.Key]; ok {
			continue // queued below if the cache holds it
		}
		if _, ok := r.cache.Services[vs.Key]; ok {
			keys = append(keys, vs.Key) // cached since the copy (a full sync)
			continue
		}
		// Not cached: ours only if the ledger records it (auditcompare.go).
		if !ledger.Owns(r.cache.Members, vs.Key) {
			foreign[vs.Key] = struct{}{}
			continue
		}
		rss, _, err := r.k.IPVS.RealServers(vs.Key)
		if err != nil {
			return sc, err
		}
		r.cache.Services[vs.Key] = &state.Service{VirtualServer: vs, RealServers: state.NewRealServers(rss)}
		sc.Services[vs.Key] = struct{}{}
		keys = append(keys, vs.Key)
	}
	for _, vs := range d.changed {
		if _, ok := touched[vs.Key]; ok {
			continue
		}
		if cached, ok := r.cache.Services[vs.Key]; ok && cached.VirtualServer != vs {
			r.cache.Services[vs.Key] = cached.WithVirtualServer(vs)
			sc.Services[vs.Key] = struct{}{}
		}
	}
	for _, k := range d.cacheOnly {
		if _, ok := touched[k]; ok {
			continue
		}
		if _, ok := r.cache.Services[k]; ok {
			sc.Services[k] = struct{}{}
			delete(r.cache.Services, k)
		}
	}
	// What applies made during the read is ours: its real servers are read
	// with the others'.
	for k := range touched {
		if _, ok := r.cache.Services[k]; !ok {
			continue
		}
		if _, ok := d.queued[k]; !ok {
			keys = append(keys, k)
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

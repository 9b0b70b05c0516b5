package controllers

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// The kernel side of the ownership ledger (its rules: package ledger):
// reading it back, re-adopting after it was lost, and keeping away from
// foreign virtual servers.

// observation is what a full sync reads from the kernel.
type observation struct {
	owned   state.State               // what the ledger says is ours
	foreign map[ipvs.Key]ipvs.Service // every other virtual server
	lost    ledger.Lost               // ledger sets found missing or flushed
	dummy   map[netip.Addr]struct{}   // every address on the dummy link
	// kubeProxy is kube-proxy's evidence while taking over from it
	// (takeover.go); nil otherwise.
	kubeProxy *ledger.KubeProxy
}

// observe reads what ipvs-proxy owns in the kernel: the members of our sets
// (the ownership ledger), the virtual servers they record, and the dummy-link
// addresses they record. Every other virtual server is foreign. A set that
// is missing is created here (empty), so each set is dumped once per full
// sync; ledger members the cache has and the kernel does not were lost (see
// ledger.Lost and ledger.Adopt). It only reads, but for creating sets.
func (r *Reconciler) observe() (observation, error) {
	obs := observation{owned: state.NewCache(), foreign: map[ipvs.Key]ipvs.Service{}, lost: ledger.Lost{}, dummy: map[netip.Addr]struct{}{}}
	for _, s := range desired.AllSets() {
		entries, err := r.k.Sets.List(s.Name)
		if errors.Is(err, ipset.ErrNotFound) {
			entries, err = nil, r.k.Sets.Ensure(s)
		}
		if err != nil {
			return obs, fmt.Errorf("observe: %w", err)
		}
		for _, e := range entries {
			obs.owned.AddMember(s.Name, e)
		}
	}
	obs.lost = ledger.LostFrom(r.cache.Members, obs.owned.Members)
	for m := range r.lost { // lost before and not re-adopted yet
		if !obs.owned.Members.Has(m) {
			obs.lost[m] = true
		}
	}
	own := ledger.Read(obs.owned.Members)
	svcs, err := r.k.IPVS.Dump()
	if err != nil {
		return obs, fmt.Errorf("observe: %w", err)
	}
	r.drain.observed(nil)
	for _, s := range svcs {
		if !own.OwnsService(s.Key) {
			obs.foreign[s.Key] = s
			continue
		}
		if want := r.index.Service(s.Key); want != nil && want.RealServers.EqualSlice(s.RealServers) {
			obs.owned.AddShared(s.VirtualServer, want.RealServers) // share.go: no copy of what the index holds
		} else {
			addService(&obs.owned, s)
		}
		r.drain.observed(&s)
	}
	addrs, err := r.k.Links.Addresses(r.cfg.DummyInterface)
	if err != nil {
		return obs, fmt.Errorf("observe: %w", err)
	}
	for _, a := range addrs {
		obs.dummy[a] = struct{}{}
		if own.OwnsAddress(a) {
			obs.owned.AddAddress(a)
		}
	}
	return obs, nil
}

func addService(st *state.State, s ipvs.Service) {
	st.AddService(s.VirtualServer).RealServers = state.NewRealServers(s.RealServers)
}

// repair re-adopts in place every foreign virtual server that ledger.Adopt
// says is ours after all: it writes the ledger member and, once that is
// done, counts the virtual server (with its real servers, and its address
// when that sits on the dummy link) as owned, so the diff keeps it (or
// removes it, when no longer desired) without re-creating it. A lost
// ClusterIP record whose virtual server is gone but whose address is still
// on the dummy link is written back too, so the address is ours again. It
// returns how many virtual servers were re-adopted; a member that cannot be
// written leaves its object foreign for this sync (rememberLost keeps it for
// the next).
func (r *Reconciler) repair(obs *observation, want state.Wanted, res *Result) (int, error) {
	n := 0
	defer r.rememberLost(obs)
	onDummy := func(a netip.Addr) bool { _, ok := obs.dummy[a]; return ok }
	write := func(m state.Member, what string) (bool, error) {
		if err := r.k.Sets.Add(m.Set, m.Entry); err != nil {
			err = fmt.Errorf("re-adopt %s: add %s %s: %w", what, m.Set, m.Entry, err)
			if !perObject(err) {
				return false, err
			}
			res.Failed = append(res.Failed, err)
			obs.lost[m] = true // ours: remembered until written
			return false, nil
		}
		obs.owned.Members.Add(m)
		if _, _, addr := ledger.Records(m); addr && onDummy(m.Entry.IP) {
			obs.owned.AddAddress(m.Entry.IP)
		}
		return true, nil
	}
	for k, s := range obs.foreign {
		m, ok := ledger.Adopt(s.VirtualServer, want, obs.lost, onDummy)
		fromKubeProxy := false
		if !ok && obs.kubeProxy != nil {
			m, ok = ledger.TakeOver(s.VirtualServer, want, *obs.kubeProxy, onDummy)
			fromKubeProxy = ok
		}
		if !ok {
			continue
		}
		done, err := write(m, k.String())
		if err != nil {
			return n, err
		}
		if !done {
			continue
		}
		addService(&obs.owned, s)
		delete(obs.foreign, k)
		if fromKubeProxy || obs.kubeProxy != nil && obs.kubeProxy.Owned(k, onDummy(k.Address)) {
			r.takeover.adopted++ // kube-proxy's, whichever rule adopted it
		} else {
			n++
		}
	}
	for m := range obs.lost {
		k, _, addr := ledger.Records(m)
		written := obs.owned.Members.Has(m)
		_, owned := obs.owned.Addresses[k.Address]
		_, vsThere := obs.foreign[k] // its virtual server could not be re-adopted: keep it lost
		if written || vsThere || !addr || owned || !onDummy(k.Address) {
			continue
		}
		if _, err := write(m, "address "+k.Address.String()); err != nil {
			return n, err
		}
	}
	return n, nil
}

// rememberLost keeps the lost records not written back yet (a failed member
// write, a sync stopped half way) whose virtual server or address is still
// there, so the next full sync tries again: the cache, rebuilt from the
// kernel, no longer knows them.
func (r *Reconciler) rememberLost(obs *observation) {
	r.lost = ledger.Lost{}
	for m := range obs.lost {
		if obs.owned.Members.Has(m) {
			continue
		}
		k, ok, addr := ledger.Records(m)
		if !ok {
			continue
		}
		_, vs := obs.foreign[k]
		_, a := obs.dummy[k.Address]
		if vs || addr && a {
			r.lost[m] = true
		}
	}
}

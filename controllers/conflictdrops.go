package controllers

import (
	"iter"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// wantDrops is what the desired state loses to foreign virtual servers
// (conflictDrops): only what the desired state holds, so that a Wanted
// without it counts exactly.
type wantDrops struct {
	services  map[ipvs.Key]struct{}
	addresses map[netip.Addr]struct{}
	members   map[state.Member]struct{}
}

// conflictDrops tells what to remove from want: every virtual server that
// exists in the kernel but is not ours (and its ledger entries), since we
// never touch those, and each Service wanting one gets a problem. An
// address only such virtual servers need is dropped too: without a
// ClusterIP ledger entry carrying it, it would not be ours once added.
func (r *Reconciler) conflictDrops(want state.Wanted, problems map[types.NamespacedName][]string) wantDrops {
	var d wantDrops // maps made on the first drop: most syncs drop nothing
	var addrs map[netip.Addr]struct{}
	for k := range r.foreign {
		if want.WantService(k) == nil {
			continue
		}
		if d.services == nil {
			d = wantDrops{services: map[ipvs.Key]struct{}{}, addresses: map[netip.Addr]struct{}{}, members: map[state.Member]struct{}{}}
		}
		d.services[k] = struct{}{}
		for _, m := range ledger.Members(k) {
			d.drop(want, m)
		}
		if addrs == nil {
			addrs = map[netip.Addr]struct{}{}
		}
		addrs[k.Address] = struct{}{}
		for _, n := range r.index.Owners(k) {
			problems[n] = append(problems[n], "virtual server "+k.String()+" already exists and was not created by ipvs-proxy; left alone")
		}
	}
	if len(addrs) == 0 {
		return d
	}
	for m := range want.EachMember() {
		if _, gone := d.members[m]; gone {
			continue
		}
		if _, ok, addr := ledger.Records(m); ok && addr {
			delete(addrs, m.Entry.IP)
		}
	}
	for a := range addrs {
		if want.WantsAddress(a) {
			d.addresses[a] = struct{}{}
		}
		for _, m := range desired.AddressMembers(a) {
			d.drop(want, m)
		}
	}
	return d
}

func (d wantDrops) drop(want state.Wanted, m state.Member) {
	if want.WantsMember(m) {
		d.members[m] = struct{}{}
	}
}

func (d wantDrops) empty() bool {
	return len(d.services) == 0 && len(d.addresses) == 0 && len(d.members) == 0
}

// dropConflicts removes from want what conflictDrops says.
func (r *Reconciler) dropConflicts(want *state.State, problems map[types.NamespacedName][]string) {
	if len(r.foreign) == 0 {
		return // nothing to drop (and no State boxed into a Wanted)
	}
	d := r.conflictDrops(*want, problems)
	for k := range d.services {
		delete(want.Services, k)
	}
	for a := range d.addresses {
		delete(want.Addresses, a)
	}
	for m := range d.members {
		want.Members.Delete(m)
	}
}

// without returns want less d, read in place (a full sync's diff reads the
// Index so).
func (d wantDrops) without(want state.Wanted) state.Wanted {
	if d.empty() {
		return want
	}
	return droppedWant{want, d}
}

type droppedWant struct {
	w state.Wanted
	d wantDrops
}

func (v droppedWant) Sizes() (services, addresses, members int) {
	s, a, m := v.w.Sizes()
	return s - len(v.d.services), a - len(v.d.addresses), m - len(v.d.members)
}

func (v droppedWant) EachService() iter.Seq2[ipvs.Key, *state.Service] {
	return func(yield func(ipvs.Key, *state.Service) bool) {
		for k, svc := range v.w.EachService() {
			if _, gone := v.d.services[k]; !gone && !yield(k, svc) {
				return
			}
		}
	}
}

func (v droppedWant) WantService(k ipvs.Key) *state.Service {
	if _, gone := v.d.services[k]; gone {
		return nil
	}
	return v.w.WantService(k)
}

func (v droppedWant) EachAddress() iter.Seq[netip.Addr] {
	return skip(v.w.EachAddress(), v.d.addresses)
}

func (v droppedWant) WantsAddress(a netip.Addr) bool {
	_, gone := v.d.addresses[a]
	return !gone && v.w.WantsAddress(a)
}

func (v droppedWant) EachMember() iter.Seq[state.Member] {
	return skip(v.w.EachMember(), v.d.members)
}

func (v droppedWant) WantsMember(m state.Member) bool {
	_, gone := v.d.members[m]
	return !gone && v.w.WantsMember(m)
}

// skip yields what seq yields but the keys in gone.
func skip[K comparable](seq iter.Seq[K], gone map[K]struct{}) iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range seq {
			if _, ok := gone[k]; !ok && !yield(k) {
				return
			}
		}
	}
}

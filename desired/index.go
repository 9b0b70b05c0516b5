package desired

import (
	"maps"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Index holds the desired state as one fragment per Service and counts, for
// every virtual server, address and ipset member, how many Services want it
// (hairpin members, for one, are shared by Services selecting the same
// pods). Replacing one Service's fragment costs O(that Service), and the
// returned Scope is what an incremental sync has to look at.
type Index struct {
	frags   map[types.NamespacedName]compactFrag
	owners  map[ipvs.Key][]types.NamespacedName
	addrs   map[netip.Addr]int
	members map[state.Member]int
}

// compactFrag is a fragment as the Index keeps it: plain slices instead of the
// State's three maps (a Service's fragment is a handful of items, and a map
// per kind cost more than twice the items themselves at 100k Services).
// The Service values are the fragment's own, shared read-only.
type compactFrag struct {
	services []*state.Service
	addrs    []netip.Addr
	members  []state.Member
}

func compact(st state.State) compactFrag {
	var f compactFrag
	if len(st.Services) > 0 {
		f.services = make([]*state.Service, 0, len(st.Services))
		for _, svc := range st.Services {
			f.services = append(f.services, shareRealServers(svc, f.services))
		}
	}
	if len(st.Addresses) > 0 {
		f.addrs = slices.AppendSeq(make([]netip.Addr, 0, len(st.Addresses)), maps.Keys(st.Addresses))
	}
	if len(st.Members) > 0 {
		f.members = slices.AppendSeq(make([]state.Member, 0, len(st.Members)), maps.Keys(st.Members))
	}
	return f
}

// shareRealServers returns svc with the real-server map of an earlier
// virtual server of the same fragment when the two are equal (a NodePort
// Service's virtual servers on every node address and on its ClusterIP
// usually are): one map instead of one per address. Fragments are
// read-only, so sharing is safe.
func shareRealServers(svc *state.Service, earlier []*state.Service) *state.Service {
	for _, e := range earlier {
		if len(e.RealServers) == len(svc.RealServers) && maps.Equal(e.RealServers, svc.RealServers) {
			return &state.Service{VirtualServer: svc.VirtualServer, RealServers: e.RealServers}
		}
	}
	return svc
}

// service returns the fragment's virtual server k (nil when it has none).
func (f compactFrag) service(k ipvs.Key) *state.Service {
	for _, svc := range f.services {
		if svc.Key == k {
			return svc
		}
	}
	return nil
}

// cover adds every key of f to sc.
func (f compactFrag) cover(sc state.Scope) {
	for _, svc := range f.services {
		sc.Services[svc.Key] = struct{}{}
	}
	for _, a := range f.addrs {
		sc.Addresses[a] = struct{}{}
	}
	for _, m := range f.members {
		sc.Members[m] = struct{}{}
	}
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{
		frags:   map[types.NamespacedName]compactFrag{},
		owners:  map[ipvs.Key][]types.NamespacedName{},
		addrs:   map[netip.Addr]int{},
		members: map[state.Member]int{},
	}
}

// Len is the number of Services with a fragment.
func (ix *Index) Len() int { return len(ix.frags) }

// Names returns the Services that have a fragment.
func (ix *Index) Names() []types.NamespacedName {
	return slices.Collect(maps.Keys(ix.frags))
}

// Set replaces the fragment of Service n (an empty fragment deletes it) and
// returns the scope the change touched: every key of the old and new fragment.
func (ix *Index) Set(n types.NamespacedName, fragment state.State) state.Scope {
	sc := state.NewScope()
	if old, ok := ix.frags[n]; ok {
		old.cover(sc)
	}
	ix.Put(n, fragment)
	sc.Cover(fragment)
	return sc
}

// Put replaces the fragment of Service n like Set, without computing the
// scope: a full sync diffs everything and has no use for it.
func (ix *Index) Put(n types.NamespacedName, fragment state.State) {
	if old, ok := ix.frags[n]; ok {
		ix.count(n, old, -1)
		delete(ix.frags, n)
	}
	if len(fragment.Services) > 0 || len(fragment.Addresses) > 0 || len(fragment.Members) > 0 {
		f := compact(fragment)
		ix.frags[n] = f
		ix.count(n, f, +1)
	}
}

func (ix *Index) count(n types.NamespacedName, f compactFrag, d int) {
	for _, svc := range f.services {
		k := svc.Key
		if d > 0 {
			ix.owners[k] = append(ix.owners[k], n)
			continue
		}
		o := ix.owners[k]
		for i, x := range o {
			if x == n {
				o = append(o[:i:i], o[i+1:]...)
				break
			}
		}
		if len(o) == 0 {
			delete(ix.owners, k)
		} else {
			ix.owners[k] = o
		}
	}
	for _, a := range f.addrs {
		if ix.addrs[a] += d; ix.addrs[a] <= 0 {
			delete(ix.addrs, a)
		}
	}
	for _, m := range f.members {
		if ix.members[m] += d; ix.members[m] <= 0 {
			delete(ix.members, m)
		}
	}
}

// Owners returns the Services that want virtual server k (more than one is a conflict).
func (ix *Index) Owners(k ipvs.Key) []types.NamespacedName { return ix.owners[k] }

// Desired returns the desired state inside sc. A virtual server wanted by
// several Services takes the first owner's settings and the union of real
// servers.
func (ix *Index) Desired(sc state.Scope) state.State {
	out := state.New()
	for k := range sc.Services {
		ix.addService(&out, k)
	}
	for a := range sc.Addresses {
		if ix.addrs[a] > 0 {
			out.Addresses[a] = struct{}{}
		}
	}
	for m := range sc.Members {
		if ix.members[m] > 0 {
			out.Members[m] = struct{}{}
		}
	}
	return out
}

// All returns the whole desired state.
func (ix *Index) All() state.State {
	out := state.New()
	for k := range ix.owners {
		ix.addService(&out, k)
	}
	for a := range ix.addrs {
		out.Addresses[a] = struct{}{}
	}
	for m := range ix.members {
		out.Members[m] = struct{}{}
	}
	return out
}

func (ix *Index) addService(out *state.State, k ipvs.Key) {
	owners := ix.owners[k]
	if len(owners) == 0 {
		return
	}
	if len(owners) == 1 {
		out.Services[k] = ix.frags[owners[0]].service(k) // shared, read-only
		return
	}
	first := ix.frags[owners[0]].service(k)
	svc := &state.Service{VirtualServer: first.VirtualServer, RealServers: maps.Clone(first.RealServers)}
	for _, n := range owners[1:] {
		maps.Copy(svc.RealServers, ix.frags[n].service(k).RealServers)
	}
	out.Services[k] = svc
}

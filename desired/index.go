package desired

import (
	"iter"
	"maps"
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Index holds the desired state as one fragment per Service and counts, for
// every virtual server, address and ipset member, how many Services want it
// (hairpin members, for one, are shared by Services selecting the same
// pods). Replacing one Service's fragment costs O(that Service), and the
// returned Scope is what an incremental sync has to look at.
//
// A virtual server several Services want goes whole to the first owner by
// Claim.Compare (see conflicts.go); Conflicts names the others.
type Index struct {
	frags   map[types.NamespacedName]compactFrag
	owners  map[ipvs.Key][]types.NamespacedName // sorted by claim
	addrs   map[netip.Addr]int
	members map[state.MemberKey]int
	wide    map[state.Member]int // members no state.MemberKey holds
}

// compactFrag is a fragment as the Index keeps it: plain slices instead of the
// State's three maps (a Service's fragment is a handful of items, and a map
// per kind cost more than twice the items themselves at 100k Services).
// The Service values are the fragment's own, shared read-only.
type compactFrag struct {
	created  time.Time // the Service's creation time: its Claim with its name
	services []*state.Service
	addrs    []netip.Addr
	members  []state.MemberKey
	wide     []state.Member
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
	if st.Members.Len() > 0 {
		f.members = make([]state.MemberKey, 0, st.Members.Len())
		f.members = slices.AppendSeq(f.members, st.Members.Packed())
		f.wide = slices.AppendSeq(f.wide, st.Members.Wide())
	}
	return f
}

// shareRealServers returns svc with the real-server list of an earlier
// virtual server of the same fragment when the two are equal (a NodePort
// Service's virtual servers on every node address and on its ClusterIP
// usually are): one list instead of one per address. Fragments are
// read-only, so sharing is safe.
func shareRealServers(svc *state.Service, earlier []*state.Service) *state.Service {
	for _, e := range earlier {
		if e.RealServers.Len() > 0 && e.RealServers.Equal(svc.RealServers) {
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
	for _, k := range f.members {
		sc.Members[k.Member()] = struct{}{}
	}
	for _, m := range f.wide {
		sc.Members[m] = struct{}{}
	}
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{
		frags:   map[types.NamespacedName]compactFrag{},
		owners:  map[ipvs.Key][]types.NamespacedName{},
		addrs:   map[netip.Addr]int{},
		members: map[state.MemberKey]int{},
		wide:    map[state.Member]int{},
	}
}

// Len is the number of Services with a fragment.
func (ix *Index) Len() int { return len(ix.frags) }

// Names returns the Services that have a fragment.
func (ix *Index) Names() []types.NamespacedName {
	return slices.Collect(maps.Keys(ix.frags))
}

// Set replaces the fragment of Service n (an empty fragment deletes it) and
// returns the scope the change touched: every key of the old and new
// fragment. n keeps the creation time of its last claim (SetClaim).
func (ix *Index) Set(n types.NamespacedName, fragment state.State) state.Scope {
	return ix.SetClaim(ix.claimOf(n), fragment)
}

// SetClaim is Set for a Service with its creation time (see ClaimOf), which
// decides who wins a virtual server two Services want.
func (ix *Index) SetClaim(c Claim, fragment state.State) state.Scope {
	sc := state.NewScope()
	if old, ok := ix.frags[c.Name]; ok {
		old.cover(sc)
	}
	ix.PutClaim(c, fragment)
	sc.Cover(fragment)
	return sc
}

// Put replaces the fragment of Service n like Set, without computing the
// scope: a full sync diffs everything and has no use for it.
func (ix *Index) Put(n types.NamespacedName, fragment state.State) {
	ix.PutClaim(ix.claimOf(n), fragment)
}

// PutClaim is Put with the Service's creation time, like SetClaim.
func (ix *Index) PutClaim(c Claim, fragment state.State) {
	n := c.Name
	if old, ok := ix.frags[n]; ok {
		ix.count(n, old, -1)
		delete(ix.frags, n)
	}
	if len(fragment.Services) > 0 || len(fragment.Addresses) > 0 || fragment.Members.Len() > 0 {
		f := compact(fragment)
		f.created = c.Created
		ix.frags[n] = f
		ix.count(n, f, +1)
	}
}

// claimOf is n's last claim, or one with no creation time.
func (ix *Index) claimOf(n types.NamespacedName) Claim {
	return Claim{Name: n, Created: ix.frags[n].created} // zero when n has no fragment
}

// Conflicts returns the virtual servers in sc that more than one Service
// wants, grouped by (winner, loser); ConflictsAll those of the whole index.
func (ix *Index) Conflicts(sc state.Scope) []*Conflict {
	return ix.conflicts(func(yield func(ipvs.Key) bool) {
		for k := range sc.Services {
			if len(ix.owners[k]) > 1 && !yield(k) {
				return
			}
		}
	})
}

// ConflictsAll is Conflicts over every virtual server.
func (ix *Index) ConflictsAll() []*Conflict {
	return ix.conflicts(func(yield func(ipvs.Key) bool) {
		for k, o := range ix.owners {
			if len(o) > 1 && !yield(k) {
				return
			}
		}
	})
}

func (ix *Index) count(n types.NamespacedName, f compactFrag, d int) {
	for _, svc := range f.services {
		k := svc.Key
		if d > 0 {
			o := ix.owners[k]
			if len(o) == 0 {
				ix.owners[k] = []types.NamespacedName{n}
				continue
			}
			c := ix.claimOf(n)
			i, _ := slices.BinarySearchFunc(o, c, func(x types.NamespacedName, c Claim) int { return ix.claimOf(x).Compare(c) })
			ix.owners[k] = slices.Insert(o[:len(o):len(o)], i, n) // never in place: Owners results stay as they were
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
	for _, k := range f.members {
		if ix.members[k] += d; ix.members[k] <= 0 {
			delete(ix.members, k)
		}
	}
	for _, m := range f.wide {
		if ix.wide[m] += d; ix.wide[m] <= 0 {
			delete(ix.wide, m)
		}
	}
}

// wants tells whether some fragment holds member m.
func (ix *Index) wants(m state.Member) bool {
	if k, ok := state.PackMember(m); ok {
		return ix.members[k] > 0
	}
	return ix.wide[m] > 0
}

// Addresses yields every desired dummy-link address, once each.
func (ix *Index) Addresses() iter.Seq[netip.Addr] { return maps.Keys(ix.addrs) }

// Owners returns the Services that want virtual server k, the winner first
// (more than one is a conflict).
func (ix *Index) Owners(k ipvs.Key) []types.NamespacedName { return ix.owners[k] }

// Desired returns the desired state inside sc. A virtual server wanted by
// several Services is the first owner's (settings and real servers).
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
		if ix.wants(m) {
			out.Members.Add(m)
		}
	}
	return out
}

// All returns the whole desired state.
func (ix *Index) All() state.State {
	out := state.State{
		Services:  make(map[ipvs.Key]*state.Service, len(ix.owners)),
		Addresses: make(map[netip.Addr]struct{}, len(ix.addrs)),
		Members:   state.NewMemberSet(len(ix.members)),
	}
	for k := range ix.owners {
		ix.addService(&out, k)
	}
	for a := range ix.addrs {
		out.Addresses[a] = struct{}{}
	}
	for k := range ix.members {
		out.Members.AddKey(k)
	}
	for m := range ix.wide {
		out.Members.Add(m)
	}
	return out
}

// Service returns the desired virtual server k (the first owner's), nil
// when none: shared with the index, read-only.
func (ix *Index) Service(k ipvs.Key) *state.Service {
	owners := ix.owners[k]
	if len(owners) == 0 {
		return nil
	}
	return ix.frags[owners[0]].service(k)
}

func (ix *Index) addService(out *state.State, k ipvs.Key) {
	owners := ix.owners[k]
	if len(owners) == 0 {
		return
	}
	out.Services[k] = ix.frags[owners[0]].service(k) // shared, read-only
}

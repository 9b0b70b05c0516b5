package desired

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

func frag(t *testing.T, s *corev1.Service, sls []*discoveryv1.EndpointSlice, nodes []netip.Addr) state.State {
	t.Helper()
	st, err := ForService(s, sls, nodes, opt)
	if err != nil {
		t.Fatalf("ForService(%s/%s): %v", s.Namespace, s.Name, err)
	}
	return st
}

// scopeOf lists a Scope's keys as sorted strings.
func scopeOf(sc state.Scope) []string {
	var out []string
	for k := range sc.Services {
		out = append(out, "vs "+k.Protocol.String()+" "+netip.AddrPortFrom(k.Address, k.Port).String())
	}
	for a := range sc.Addresses {
		out = append(out, "addr "+a.String())
	}
	for m := range sc.Members {
		out = append(out, "member "+m.Set+" "+m.Entry.String())
	}
	slices.Sort(out)
	return out
}

func TestIndexSetDesiredAll(t *testing.T) {
	nodes := addrs("192.168.1.10")
	// a and b select the same pod port: they share a hairpin member.
	a := svc("default/a", "10.96.0.1", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort))
	b := svc("default/b", "10.96.0.2", tcp("http", 80))
	slA := slice("default/a-1", "a", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"), ep("10.244.1.6"))
	slB := slice("default/b-1", "b", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"))
	fa := frag(t, a, []*discoveryv1.EndpointSlice{slA}, nodes)
	fb := frag(t, b, []*discoveryv1.EndpointSlice{slB}, nodes)
	shared := H4 + " 10.244.1.5,tcp:8080,10.244.1.5"

	ix := NewIndex()
	if ix.Len() != 0 || !equalStates(ix.All(), state.New()) {
		t.Fatal("new Index not empty")
	}

	// Set returns the scope: every key of the new fragment.
	sc := ix.Set(nn("default/a"), fa)
	if got, want := scopeOf(sc), scopeOf(cover(fa)); !slices.Equal(got, want) {
		t.Errorf("scope of first Set = %v, want %v", got, want)
	}
	assertState(t, ix.Desired(sc), fa)
	ix.Set(nn("default/b"), fb)
	if ix.Len() != 2 {
		t.Errorf("Len = %d", ix.Len())
	}
	names := ix.Names()
	slices.SortFunc(names, func(x, y types.NamespacedName) int { return cmpNN(x, y) })
	if !slices.Equal(names, []types.NamespacedName{nn("default/a"), nn("default/b")}) {
		t.Errorf("Names = %v", names)
	}
	all := fa.Clone()
	all.Merge(fb)
	assertState(t, ix.All(), all)
	if got, _ := Build(Input{Services: []*corev1.Service{a, b}, Slices: []*discoveryv1.EndpointSlice{slA, slB}, NodeAddresses: nodes}, opt); !equalStates(got, ix.All()) {
		t.Errorf("All() != Build:\n%s\n---\n%s", dump(ix.All()), dump(got))
	}

	// Replacing a's fragment: the scope is old ∪ new keys.
	a2 := svc("default/a", "10.96.0.1", tcp("http", 81))
	fa2 := frag(t, a2, []*discoveryv1.EndpointSlice{slA}, nodes)
	sc = ix.Set(nn("default/a"), fa2)
	u := cover(fa)
	u.Cover(fa2)
	if got, want := scopeOf(sc), scopeOf(u); !slices.Equal(got, want) {
		t.Errorf("scope of replacing Set = %v, want %v", got, want)
	}
	assertState(t, ix.Desired(sc), ix.All().Restrict(sc))

	// Deleting a (empty fragment) keeps the hairpin member b still wants.
	sc = ix.Set(nn("default/a"), state.State{})
	if got, want := scopeOf(sc), scopeOf(cover(fa2)); !slices.Equal(got, want) {
		t.Errorf("scope of delete = %v, want %v", got, want)
	}
	d := ix.Desired(sc)
	if got := members(d); !slices.Equal(got, []string{shared}) {
		t.Errorf("after deleting a, Desired(scope) members = %v, want only the shared hairpin member", got)
	}
	if len(d.Services) != 0 || len(d.Addresses) != 0 {
		t.Errorf("after deleting a, Desired(scope) = %s", dump(d))
	}
	assertState(t, ix.All(), fb)
	if ix.Len() != 1 {
		t.Errorf("Len = %d after delete", ix.Len())
	}

	// Deleting b too removes the member.
	sc = ix.Set(nn("default/b"), state.New())
	if _, ok := sc.Members[mustMember(shared)]; !ok {
		t.Error("scope of deleting b lacks the shared member")
	}
	assertState(t, ix.Desired(sc), state.New())
	assertState(t, ix.All(), state.New())
	if ix.Len() != 0 {
		t.Errorf("Len = %d", ix.Len())
	}

	// Deleting an unknown Service is a no-op with an empty scope.
	if sc := ix.Set(nn("default/zzz"), state.State{}); !sc.Empty() {
		t.Errorf("scope of deleting unknown = %v", scopeOf(sc))
	}
}

// mergeFirstWins merges fragments in name order (no creation times), a
// virtual server wanted twice going whole to the first: the Index's rule,
// written plainly.
func mergeFirstWins(frags map[types.NamespacedName]state.State) state.State {
	out := state.New()
	names := slices.SortedFunc(maps.Keys(frags), compareNames)
	for _, n := range names {
		for k, svc := range frags[n].Services {
			if _, ok := out.Services[k]; !ok {
				out.Services[k] = svc
			}
		}
		maps.Copy(out.Addresses, frags[n].Addresses)
		out.Members.AddSet(frags[n].Members)
	}
	return out
}

func TestIndexSharedVirtualServer(t *testing.T) {
	// Two Services claiming the same virtual server (a conflict): the
	// winner's settings and real servers (equal creation times: first by
	// name); deleting it leaves the other's.
	k := key("tcp 192.168.1.10:30080")
	mk := func(timeout uint32, rs string) state.State {
		return want{vs: map[string]vsWant{"tcp 192.168.1.10:30080": {"rr", timeout, []string{rs}}},
			mems: []string{N4 + " 192.168.1.10,tcp:30080"}}.state()
	}
	ix := NewIndex()
	ix.Set(nn("ns/x"), mk(0, "10.244.1.1:80"))
	ix.Set(nn("ns/y"), mk(600, "10.244.1.2:80"))
	if got := ix.Owners(k); !slices.Equal(got, []types.NamespacedName{nn("ns/x"), nn("ns/y")}) {
		t.Errorf("Owners = %v", got)
	}
	assertState(t, ix.All(), mk(0, "10.244.1.1:80"))
	// the merged view must not write into a fragment
	ix.Desired(cover(mk(0, "10.244.1.1:80")))
	sc := ix.Set(nn("ns/x"), state.State{})
	assertState(t, ix.Desired(sc), mk(600, "10.244.1.2:80"))
	if got := ix.Owners(k); !slices.Equal(got, []types.NamespacedName{nn("ns/y")}) {
		t.Errorf("Owners after delete = %v", got)
	}
	ix.Set(nn("ns/y"), state.State{})
	if got := ix.Owners(k); len(got) != 0 {
		t.Errorf("Owners after deleting both = %v", got)
	}
}

func TestIndexOwnersNotAliased(t *testing.T) {
	// Removing the middle owner must not corrupt the slice seen earlier.
	f := want{vs: map[string]vsWant{"tcp 10.96.0.1:80": {"rr", 0, nil}}}.state()
	ix := NewIndex()
	for _, n := range []string{"ns/a", "ns/b", "ns/c"} {
		ix.Set(nn(n), f)
	}
	before := ix.Owners(key("tcp 10.96.0.1:80"))
	ix.Set(nn("ns/b"), state.State{})
	if !slices.Equal(before, []types.NamespacedName{nn("ns/a"), nn("ns/b"), nn("ns/c")}) {
		t.Errorf("earlier Owners result changed to %v", before)
	}
	if got := ix.Owners(key("tcp 10.96.0.1:80")); !slices.Equal(got, []types.NamespacedName{nn("ns/a"), nn("ns/c")}) {
		t.Errorf("Owners = %v", got)
	}
}

// TestIndexProperty: for random sequences of Set on a few Services, All()
// equals Build of the current objects (and the merge of the current
// fragments), Desired(scope) equals All() restricted to the scope, and an
// incremental sync (diffing only the scope) keeps an observed state equal to
// All().
func TestIndexProperty(t *testing.T) {
	nodes := addrs("192.168.1.10", "192.168.1.11", "fd00:1::10")
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 7))
		ix := NewIndex()
		cur := map[types.NamespacedName]*corev1.Service{}
		curSlices := map[types.NamespacedName][]*discoveryv1.EndpointSlice{}
		frags := map[types.NamespacedName]state.State{}
		observed := state.New()
		for step := range 40 {
			i := r.IntN(5)
			n := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("s%d", i)}
			var f state.State
			if r.IntN(4) == 0 {
				delete(cur, n)
				delete(curSlices, n)
				delete(frags, n)
			} else {
				s, sls := randomService(r, i)
				cur[n], curSlices[n] = s, sls
				var err error
				f, err = ForService(s, sls, nodes, opt)
				if err != nil {
					t.Fatal(err)
				}
				frags[n] = f
			}
			sc := ix.Set(n, f)

			all := ix.All()
			merged := mergeFirstWins(frags)
			if !equalStates(all, merged) {
				t.Fatalf("seed %d step %d: All() != merged fragments\n%s\n---\n%s", seed, step, dump(all), dump(merged))
			}
			var in Input
			for k, s := range cur {
				in.Services = append(in.Services, s)
				in.Slices = append(in.Slices, curSlices[k]...)
			}
			in.NodeAddresses = nodes
			built, errs := Build(in, opt)
			for _, err := range errs {
				if _, ok := err.(*Conflict); !ok {
					t.Fatal(err)
				}
			}
			if got, want := len(errs), len(ix.ConflictsAll()); got != want {
				t.Fatalf("seed %d step %d: Build reported %d conflicts, the Index %d", seed, step, got, want)
			}
			if !equalStates(all, built) {
				t.Fatalf("seed %d step %d: All() != Build\n%s\n---\n%s", seed, step, dump(all), dump(built))
			}
			d := ix.Desired(sc)
			if !equalStates(d, all.Restrict(sc)) {
				t.Fatalf("seed %d step %d: Desired(scope) != All().Restrict(scope)", seed, step)
			}
			// A random scope, too.
			rsc := state.NewScope()
			for k := range all.Services {
				if r.IntN(2) == 0 {
					rsc.Services[k] = struct{}{}
				}
			}
			for m := range all.Members.All() {
				if r.IntN(2) == 0 {
					rsc.Members[m] = struct{}{}
				}
			}
			for a := range all.Addresses {
				if r.IntN(2) == 0 {
					rsc.Addresses[a] = struct{}{}
				}
			}
			rsc.Services[key("tcp 10.1.2.3:4")] = struct{}{} // not wanted by anyone
			if !equalStates(ix.Desired(rsc), all.Restrict(rsc)) {
				t.Fatalf("seed %d step %d: Desired(random scope) != All().Restrict", seed, step)
			}
			// The Index read in place diffs as its copy does, against a
			// partly synced kernel and an empty one.
			for _, o := range []state.State{observed, state.New()} {
				if got, want := state.DiffWanted(ix, o).String(), state.Diff(all, o).String(); got != want {
					t.Fatalf("seed %d step %d: DiffWanted(index) != Diff(All())\n%s\n---\n%s", seed, step, got, want)
				}
			}
			// Incremental sync of the scope only.
			state.Diff(d, observed.Restrict(sc)).ApplyTo(&observed)
			if !equalStates(observed, all) {
				t.Fatalf("seed %d step %d: incremental sync diverged\n%s\n---\n%s", seed, step, dump(observed), dump(all))
			}
		}
	}
}

// randomService returns Service ns/s<i> and its slices. Cluster IPs are per
// Service; pod IPs come from a small pool so hairpin members are shared;
// node ports come from a small shared pool (so Services share node-port
// virtual servers) unless the Service has session affinity.
func randomService(r *rand.Rand, i int) (*corev1.Service, []*discoveryv1.EndpointSlice) {
	name := fmt.Sprintf("s%d", i)
	ips := fmt.Sprintf("10.96.0.%d", 10+i)
	dual := r.IntN(3) == 0
	if dual {
		ips += fmt.Sprintf(",fd00::%x", 0x10+i)
	}
	var opts []svcOpt
	protos := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	aff := r.IntN(3) == 0
	nports := 1 + r.IntN(2)
	for p := range nports {
		np := int32(0)
		if aff {
			np = int32(31000 + 10*i + p)
		} else {
			np = int32(30000 + r.IntN(2))
		}
		opts = append(opts, port(fmt.Sprintf("p%d", p), protos[r.IntN(2)+p%2], int32(80+p), np))
	}
	if aff {
		opts = append(opts, affinity(i32(int32(100*(i+1)))))
	}
	switch r.IntN(3) {
	case 0:
		opts = append(opts, typ(corev1.ServiceTypeNodePort))
	case 1:
		opts = append(opts, typ(corev1.ServiceTypeLoadBalancer))
	}
	if r.IntN(4) == 0 {
		opts = append(opts, itpLocal())
	}
	if r.IntN(4) == 0 {
		opts = append(opts, etpLocal())
	}
	if r.IntN(10) == 0 {
		opts = append(opts, label(ProxyNameLabel, "x"))
	}
	s := svc("ns/"+name, ips, opts...)
	var sls []*discoveryv1.EndpointSlice
	nodesN := []string{"node-a", "node-b"}
	for j := range r.IntN(3) {
		var so []sliceOpt
		for p := range nports {
			so = append(so, sport(fmt.Sprintf("p%d", p), s.Spec.Ports[p].Protocol, int32(8080+r.IntN(2))))
		}
		v6slice := dual && r.IntN(2) == 0
		if v6slice {
			so = append(so, v6())
		}
		for range r.IntN(4) {
			var a string
			if v6slice {
				a = fmt.Sprintf("fd00:244::%x", 1+r.IntN(4))
			} else {
				a = fmt.Sprintf("10.244.1.%d", 1+r.IntN(4))
			}
			var eo []epOpt
			eo = append(eo, on(nodesN[r.IntN(2)]))
			switch r.IntN(4) {
			case 0:
				eo = append(eo, terminating(r.IntN(2) == 0))
			case 1:
				eo = append(eo, ready(r.IntN(2) == 0))
			}
			so = append(so, ep(a, eo...))
		}
		sls = append(sls, slice(fmt.Sprintf("ns/%s-%d", name, j), name, so...))
	}
	return s, sls
}

func cover(st state.State) state.Scope {
	sc := state.NewScope()
	sc.Cover(st)
	return sc
}

func cmpNN(a, b types.NamespacedName) int {
	if a.Namespace != b.Namespace {
		if a.Namespace < b.Namespace {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

func mustMember(s string) state.Member {
	set, e := parseMember(s)
	return state.Member{Set: set, Entry: e}
}

var _ = ipvs.TCP

// Put keeps the same counts as Set (it only skips the scope).
func TestIndexPutMatchesSet(t *testing.T) {
	nodes := addrs("192.168.1.10")
	a := svc("default/a", "10.96.0.1", tcp("http", 80))
	b := svc("default/b", "10.96.0.2", tcp("http", 80))
	sl := func(name, svcName string) *discoveryv1.EndpointSlice {
		return slice(name, svcName, sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"))
	}
	fa := frag(t, a, []*discoveryv1.EndpointSlice{sl("default/a-1", "a")}, nodes)
	fb := frag(t, b, []*discoveryv1.EndpointSlice{sl("default/b-1", "b")}, nodes)
	viaSet, viaPut := NewIndex(), NewIndex()
	viaSet.Set(nn("default/a"), fa)
	viaSet.Set(nn("default/b"), fb)
	viaSet.Set(nn("default/a"), state.State{})
	viaPut.Put(nn("default/a"), fa)
	viaPut.Put(nn("default/b"), fb)
	viaPut.Put(nn("default/a"), state.State{})
	assertState(t, viaPut.All(), viaSet.All())
	assertState(t, viaPut.All(), fb) // the shared hairpin member survives a's removal
}

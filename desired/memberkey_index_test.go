package desired

import (
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Our sets' members pack (desired registers every set of AllSets with
// state), others stay wide; the Index keeps both kinds.
func TestIndexMembersPackedAndWide(t *testing.T) {
	for _, s := range AllSets() {
		m := state.Member{Set: s.Name, Entry: ipset.Entry{IP: netip.MustParseAddr("10.96.0.10"), Protocol: "tcp", Port: 80}}
		if _, ok := state.PackMember(m); !ok {
			t.Errorf("set %s is not registered for packing", s.Name)
		}
	}
	a := netip.MustParseAddr
	v4, v6 := Sets(a("10.0.0.1")), Sets(a("fd00::1"))
	packed := []state.Member{
		{Set: v4.ClusterIP, Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "tcp", Port: 80}},
		{Set: v4.Hairpin, Entry: ipset.Entry{IP: a("10.244.1.5"), Protocol: "udp", Port: 53, IP2: a("10.244.1.5")}},
		{Set: v6.NodePort, Entry: ipset.Entry{IP: a("fd00::10"), Protocol: "sctp", Port: 30080}},
		{Set: v6.Hairpin, Entry: ipset.Entry{IP: a("fd00::5"), Protocol: "tcp", Port: 8080, IP2: a("fd00::5")}},
		{Set: v4.VIPs, Entry: ipset.Entry{IP: a("10.96.0.10")}},
		{Set: v6.VIPs, Entry: ipset.Entry{IP: a("::ffff:10.96.0.10")}}, // 4in6 stays 4in6
		{Set: v4.HealthCheck, Entry: ipset.Entry{IP: a("0.0.0.0"), Protocol: "tcp"}},
		{Set: v4.ClusterIP},
	}
	for _, m := range packed {
		k, ok := state.PackMember(m)
		if !ok {
			t.Errorf("%s %s: not packed", m.Set, m.Entry)
			continue
		}
		if got := k.Member(); got != m {
			t.Errorf("round trip of %+v = %+v", m, got)
		}
	}
	wide := []state.Member{
		{Set: v4.LBSourceCIDR, Entry: ipset.Entry{IP: a("192.0.2.1"), Protocol: "tcp", Port: 80, Net: netip.MustParsePrefix("10.0.0.0/8")}},
		{Set: "SOMEONE-ELSES", Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "tcp", Port: 80}},
		{Set: v4.ClusterIP, Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "icmp", Port: 80}},
		{Set: v6.ClusterIP, Entry: ipset.Entry{IP: a("fe80::1%eth0"), Protocol: "tcp", Port: 80}},
	}
	for _, m := range wide {
		if _, ok := state.PackMember(m); ok {
			t.Errorf("%+v packed; it does not fit", m)
		}
	}
	// The Index keeps both kinds, counts them and gives them back.
	ix := NewIndex()
	st := state.New()
	for _, m := range append(packed, wide...) {
		st.AddMember(m.Set, m.Entry)
	}
	ix.Put(types.NamespacedName{Namespace: "a", Name: "x"}, st)
	ix.Put(types.NamespacedName{Namespace: "a", Name: "y"}, st.Clone())
	assertMembers := func(what string, got state.State, want int) {
		t.Helper()
		if got.Members.Len() != want {
			t.Errorf("%s: %d members, want %d", what, got.Members.Len(), want)
		}
		for m := range got.Members.All() {
			if !st.Members.Has(m) {
				t.Errorf("%s: %+v not put", what, m)
			}
		}
	}
	assertMembers("All", ix.All(), st.Members.Len())
	sc := state.NewScope()
	sc.Cover(st)
	assertMembers("Desired", ix.Desired(sc), st.Members.Len())
	ix.Put(types.NamespacedName{Namespace: "a", Name: "x"}, state.State{})
	assertMembers("All after one of two is gone", ix.All(), st.Members.Len())
	if got := ix.Set(types.NamespacedName{Namespace: "a", Name: "y"}, state.State{}); len(got.Members) != st.Members.Len() {
		t.Errorf("scope of the removal: %d members", len(got.Members))
	}
	assertMembers("All after both are gone", ix.All(), 0)
	if len(ix.members) != 0 || len(ix.wide) != 0 {
		t.Errorf("counts left: %v %v", ix.members, ix.wide)
	}
}

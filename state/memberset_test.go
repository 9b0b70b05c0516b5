package state

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// The state tests pack the members of clusterSet and hairpinSet (desired
// registers the real names; state's own tests register these two) and keep
// the other sets' members wide, so both halves of a MemberSet are used.
func init() { RegisterSets(clusterSet, hairpinSet) }

func TestMemberKeyRoundTrip(t *testing.T) {
	a := netip.MustParseAddr
	packed := []Member{
		{Set: clusterSet, Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "tcp", Port: 80}},
		{Set: hairpinSet, Entry: ipset.Entry{IP: a("10.244.1.5"), Protocol: "udp", Port: 53, IP2: a("10.244.1.5")}},
		{Set: clusterSet, Entry: ipset.Entry{IP: a("fd00::10"), Protocol: "sctp", Port: 30080}},
		{Set: hairpinSet, Entry: ipset.Entry{IP: a("fd00::5"), Protocol: "tcp", Port: 8080, IP2: a("fd00::5")}},
		{Set: clusterSet, Entry: ipset.Entry{IP: a("10.96.0.10")}},
		{Set: clusterSet, Entry: ipset.Entry{IP: a("::ffff:10.96.0.10")}}, // 4in6 stays 4in6
		{Set: clusterSet, Entry: ipset.Entry{IP: a("0.0.0.0"), Protocol: "tcp"}},
		{Set: clusterSet},
	}
	for _, m := range packed {
		k, ok := PackMember(m)
		if !ok {
			t.Errorf("%s %s: not packed", m.Set, m.Entry)
			continue
		}
		if got := k.Member(); got != m {
			t.Errorf("round trip of %+v = %+v", m, got)
		}
		if k.SetName() != m.Set {
			t.Errorf("SetName of %+v = %q", m, k.SetName())
		}
	}
	for _, m := range wideMembers() {
		if _, ok := PackMember(m); ok {
			t.Errorf("%+v packed; it does not fit", m)
		}
	}
}

func wideMembers() []Member {
	a := netip.MustParseAddr
	return []Member{
		{Set: clusterSet, Entry: ipset.Entry{IP: a("192.0.2.1"), Protocol: "tcp", Port: 80, Net: netip.MustParsePrefix("10.0.0.0/8")}},
		{Set: "SOMEONE-ELSES", Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "tcp", Port: 80}},
		{Set: clusterSet, Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "icmp", Port: 80}},
		{Set: clusterSet, Entry: ipset.Entry{IP: a("fe80::1%eth0"), Protocol: "tcp", Port: 80}},
	}
}

func TestMemberSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() MemberSet
	}{{"one map", func() MemberSet { return NewMemberSet(0) }}, {"by set", NewMemberSetBySet}} {
		t.Run(tc.name, func(t *testing.T) { testMemberSet(t, tc.make) })
	}
}

func testMemberSet(t *testing.T, newSet func() MemberSet) {
	a := netip.MustParseAddr
	p1 := Member{Set: clusterSet, Entry: ipset.Entry{IP: a("10.96.0.10"), Protocol: "tcp", Port: 80}}
	p2 := Member{Set: hairpinSet, Entry: ipset.Entry{IP: a("10.244.1.5"), Protocol: "tcp", Port: 8080, IP2: a("10.244.1.5")}}
	all := append([]Member{p1, p2}, wideMembers()...)

	var zero MemberSet
	if zero.Len() != 0 || zero.Has(p1) || len(slices.Collect(zero.All())) != 0 {
		t.Fatal("the zero MemberSet is not empty")
	}
	zero.Delete(p1) // no panic
	s := newSet()
	shared := s // shares the content, as a map would
	for _, m := range all {
		s.Add(m)
		s.Add(m)
	}
	if s.Len() != len(all) || shared.Len() != len(all) {
		t.Fatalf("Len = %d (copy %d), want %d", s.Len(), shared.Len(), len(all))
	}
	got := slices.SortedFunc(s.All(), compareMember)
	want := slices.SortedFunc(slices.Values(all), compareMember)
	if !slices.Equal(got, want) {
		t.Errorf("All = %v\nwant %v", got, want)
	}
	for _, m := range all {
		if !s.Has(m) {
			t.Errorf("Has(%+v) = false", m)
		}
	}
	if in := slices.Collect(s.InSet(hairpinSet)); !slices.Equal(in, []Member{p2}) {
		t.Errorf("InSet(hairpin) = %v", in)
	}
	if in := slices.Collect(s.InSet("SOMEONE-ELSES")); len(in) != 1 || in[0] != all[3] {
		t.Errorf("InSet(SOMEONE-ELSES) = %v", in)
	}
	c := s.Clone()
	for _, m := range all {
		s.Delete(m)
	}
	if s.Len() != 0 || c.Len() != len(all) {
		t.Errorf("after Delete: %d left, clone %d", s.Len(), c.Len())
	}
	u := newSet()
	u.AddSet(c)
	k1, _ := PackMember(p1)
	u.Reserve(slices.Repeat([]MemberKey{k1}, 100))
	if u.Len() != len(all) || !u.Has(p1) || !u.Has(all[5]) {
		t.Errorf("AddSet/Reserve lost members: %d", u.Len())
	}
	k, _ := PackMember(p2)
	v := newSet()
	v.AddKey(k)
	if !v.Has(p2) {
		t.Error("AddKey: member missing")
	}
	// A copy made after the first add shares later adds, to a set of
	// its own too.
	w := v
	v.Add(p1)
	if !w.Has(p1) || w.Len() != 2 {
		t.Errorf("a copy does not see the adds: Len %d", w.Len())
	}
}

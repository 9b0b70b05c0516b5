package state

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// A MemberList sorts as a []Member sorted by compareMember, packed and wide
// members mixed, and gives every member back by All, At and Slice.
func TestMemberListOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addrs := []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("9.255.255.255"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("::1"), netip.MustParseAddr("fe80::1%eth0")}
	sets := []string{clusterSet, hairpinSet, "S-WIDE", "A-WIDE"}
	protos := []string{"", "tcp", "udp", "sctp", "icmp"}
	for round := range 50 {
		var ms []Member
		seen := map[Member]bool{}
		for range 1 + r.IntN(60) {
			m := Member{Set: sets[r.IntN(len(sets))], Entry: ipset.Entry{
				IP: addrs[r.IntN(len(addrs))], Protocol: protos[r.IntN(len(protos))], Port: uint16(r.IntN(3)),
				IP2: addrs[r.IntN(len(addrs))],
			}}
			if r.IntN(10) == 0 {
				m.Entry.Net = netip.MustParsePrefix("10.0.0.0/8")
			}
			if !seen[m] { // a plan's list holds a member once
				seen[m] = true
				ms = append(ms, m)
			}
		}
		l := MemberListOf(ms...)
		if !slices.Equal(l.Slice(), ms) {
			t.Fatalf("round %d: MemberListOf changed the members", round)
		}
		l.sort()
		want := slices.Clone(ms)
		slices.SortFunc(want, compareMember)
		got := l.Slice()
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: sorted\n%v\nwant\n%v", round, got, want)
		}
		for i, m := range want {
			if l.At(i) != m {
				t.Fatalf("round %d: At(%d) = %v, want %v", round, i, l.At(i), m)
			}
		}
		if l.Len() != len(want) {
			t.Fatalf("round %d: Len = %d", round, l.Len())
		}
	}
	var empty MemberList
	if empty.Len() != 0 || empty.Slice() != nil {
		t.Error("the zero MemberList is not empty")
	}
}

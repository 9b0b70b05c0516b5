package state

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// randomRS draws from a small pool of keys so that sets, replacements and
// deletes collide: IPv4, IPv6, IPv4-mapped IPv6 (another key than its IPv4
// twin) and the invalid address, on two ports.
func randomRS(r *rand.Rand) ipvs.RealServer {
	addrs := []netip.Addr{
		netip.MustParseAddr("10.244.1.5"), netip.MustParseAddr("10.244.1.6"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::ffff:10.244.1.5"), netip.MustParseAddr("fd00::5"),
		netip.MustParseAddr("fd00::6"), netip.MustParseAddr("::"), netip.MustParseAddr("ffff::1"), {},
	}
	return ipvs.RealServer{
		RealServerKey: ipvs.RealServerKey{Address: addrs[r.IntN(len(addrs))], Port: []uint16{0, 80, 8080, 65535}[r.IntN(4)]},
		Weight:        r.IntN(3) - 1,
		Forwarding:    ipvs.Forwarding(r.IntN(3)),
	}
}

// sortedModel is the map's real servers in ipvs.RealServerKey.Compare order.
func sortedModel(m map[ipvs.RealServerKey]ipvs.RealServer) []ipvs.RealServer {
	return slices.SortedFunc(maps.Values(m), func(a, b ipvs.RealServer) int { return a.RealServerKey.Compare(b.RealServerKey) })
}

// RealServers behaves as the map it replaced: random Sets and Deletes
// against a map, with every read compared, and All in key order.
func TestRealServersMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var l RealServers
		m := map[ipvs.RealServerKey]ipvs.RealServer{}
		for range r.IntN(60) {
			rs := randomRS(r)
			if r.IntN(3) == 0 {
				_, had := m[rs.RealServerKey]
				delete(m, rs.RealServerKey)
				if got := l.Delete(rs.RealServerKey); got != had {
					t.Fatalf("Delete(%v) = %v, want %v", rs.RealServerKey, got, had)
				}
			} else {
				m[rs.RealServerKey] = rs
				l.Set(rs)
			}
			probe := randomRS(r).RealServerKey
			want, wantOK := m[probe]
			if got, ok := l.Get(probe); ok != wantOK || got != want || l.Has(probe) != wantOK {
				t.Fatalf("Get(%v) = %v %v, want %v %v", probe, got, ok, want, wantOK)
			}
		}
		want := sortedModel(m)
		if got := slices.Collect(l.All()); l.Len() != len(m) || !slices.Equal(got, want) || !slices.Equal(l.Slice(), want) {
			t.Fatalf("All = %v, want %v", got, want)
		}
		// NewRealServers of the same real servers in any order, with repeats
		// (the later wins), is an equal list.
		in := slices.Clone(want)
		r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		if len(in) > 0 {
			stale := in[0]
			stale.Weight += 7
			in = append([]ipvs.RealServer{stale}, in...)
		}
		if b := NewRealServers(in); !b.Equal(l) || b.Len() != len(m) {
			t.Fatalf("NewRealServers(%v) = %v, want %v", in, b, l)
		}
		// In order with a repeat at the end: the repeat wins.
		if len(want) > 0 {
			last := want[len(want)-1]
			last.Weight += 7
			b := NewRealServers(append(slices.Clone(want), last))
			if got, _ := b.Get(last.RealServerKey); got != last || b.Len() != len(want) {
				t.Fatalf("NewRealServers in order with a repeat: %v", b)
			}
		}
	}
}

func TestRealServersEqualSlice(t *testing.T) {
	a, b, c := rs("10.244.1.5:8080", 1), rs("10.244.1.6:8080", 1), rs("[fd00::5]:80", 1)
	l := NewRealServers([]ipvs.RealServer{a, b, c})
	for _, tc := range []struct {
		rss  []ipvs.RealServer
		want bool
	}{
		{[]ipvs.RealServer{a, b, c}, true},
		{[]ipvs.RealServer{c, a, b}, true},
		{[]ipvs.RealServer{a, c, b}, true},
		{[]ipvs.RealServer{a, b}, false},
		{[]ipvs.RealServer{a, b, c, c}, false},
		{[]ipvs.RealServer{a, a, b}, false}, // c missing, a repeated
		{[]ipvs.RealServer{c, a, a}, false},
		{[]ipvs.RealServer{a, b, rs("[fd00::5]:80", 2)}, false},
		{[]ipvs.RealServer{rs("[fd00::5]:80", 2), a, b}, false},
	} {
		if got := l.EqualSlice(tc.rss); got != tc.want {
			t.Errorf("EqualSlice(%v) = %v, want %v", tc.rss, got, tc.want)
		}
	}
	if !(RealServers{}).EqualSlice(nil) {
		t.Error("empty lists differ")
	}
}

// Shares is identity, not equality; Clone shares nothing.
func TestRealServersShares(t *testing.T) {
	l := NewRealServers([]ipvs.RealServer{rs("10.244.1.5:8080", 1)})
	c := l.Clone()
	if !l.Shares(l) || l.Shares(c) || !l.Equal(c) || (RealServers{}).Shares(RealServers{}) {
		t.Error("Shares")
	}
	c.Set(rs("10.244.1.5:8080", 2))
	if got, _ := l.Get(rs("10.244.1.5:8080", 0).RealServerKey); got.Weight != 1 {
		t.Error("a change to the clone reached the original")
	}
}

// An IPv4 real server and its IPv4-mapped IPv6 twin are two keys, and keep
// their forms.
func TestRealServersKeepAddressForms(t *testing.T) {
	v4, mapped := rs("10.244.1.5:80", 1), rs("[::ffff:10.244.1.5]:80", 2)
	l := NewRealServers([]ipvs.RealServer{mapped, v4})
	if got := l.Slice(); len(got) != 2 || got[0] != v4 || got[1] != mapped || !got[1].Address.Is4In6() {
		t.Errorf("Slice = %v", got)
	}
}

// A list built in key order never moves an element: Set appends.
func BenchmarkRealServersSetInOrder(b *testing.B) {
	rss := make([]ipvs.RealServer, 1000)
	for i := range rss {
		rss[i] = ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Port: 80}, Weight: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		var l RealServers
		l.Grow(len(rss))
		for _, rs := range rss {
			l.Set(rs)
		}
	}
}

// NewRealServers of a large, shuffled list: O(n log n).
func BenchmarkNewRealServers10k(b *testing.B) {
	rss := make([]ipvs.RealServer, 10_000)
	for i := range rss {
		rss[i] = ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Port: 80}, Weight: 1}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rss), func(i, j int) { rss[i], rss[j] = rss[j], rss[i] })
	b.ReportAllocs()
	for b.Loop() {
		NewRealServers(rss)
	}
}

// The worst case of a sorted slice against a map: a virtual server of
// 10,000 real servers losing all of them one delete at a time, from the
// front (as a sorted plan deletes), each delete moving the rest.
func BenchmarkRealServersDeleteAll10k(b *testing.B) {
	rss := make([]ipvs.RealServer, 10_000)
	for i := range rss {
		rss[i] = ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Port: 80}, Weight: 1}
	}
	l := NewRealServers(rss)
	b.ReportAllocs()
	for b.Loop() {
		c := l.Clone()
		for _, rs := range rss {
			c.Delete(rs.RealServerKey)
		}
	}
}

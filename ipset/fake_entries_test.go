package ipset

import (
	"net/netip"
	"slices"
	"testing"
)

// The fake keeps members packed where it can and wide where it cannot;
// every one comes back exactly as added.
func TestFakeEntriesRoundTrip(t *testing.T) {
	a, p := netip.MustParseAddr, netip.MustParsePrefix
	in := []Entry{
		{IP: a("10.96.0.10"), Protocol: "tcp", Port: 80},
		{IP: a("10.96.0.10"), Protocol: "udp", Port: 80},
		{IP: a("fd00::10"), Protocol: "sctp", Port: 30080},
		{IP: a("10.244.1.5"), Protocol: "tcp", Port: 8080, IP2: a("10.244.1.5")},
		{IP: a("192.0.2.1"), Protocol: "tcp", Port: 80, Net: p("10.0.0.0/8")},
		{IP: a("fd00::1"), Protocol: "tcp", Port: 80, Net: p("fd00:1::/64")},
		{IP: a("::ffff:10.96.0.10")},
		{IP: a("10.96.0.11")},
		{IP: a("fe80::1%eth0"), Protocol: "tcp", Port: 80},
		{IP: a("10.96.0.12"), Protocol: "TCP", Port: 80},
	}
	s := newFakeEntries()
	for _, e := range in {
		s.add(e)
		s.add(e)
	}
	if s.len() != len(in) {
		t.Fatalf("len = %d, want %d", s.len(), len(in))
	}
	if len(s.wide) != 1 {
		t.Errorf("%d wide, want 1 (the zoned one): %v", len(s.wide), s.wide)
	}
	got := slices.SortedFunc(s.all(), Entry.Compare)
	want := slices.SortedFunc(slices.Values(in), Entry.Compare)
	if !slices.Equal(got, want) {
		t.Errorf("all = %v\nwant %v", got, want)
	}
	for _, e := range in {
		if !s.has(e) {
			t.Errorf("has(%v) = false", e)
		}
		s.delete(e)
		if s.has(e) {
			t.Errorf("has(%v) after delete", e)
		}
	}
	if s.has(Entry{IP: a("10.96.0.10"), Protocol: "icmp"}) || s.len() != 0 {
		t.Errorf("left: %d", s.len())
	}
}

package state

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

func TestRealServerAdds(t *testing.T) {
	k1 := ipvs.Key{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 80}
	k2 := ipvs.Key{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.96.0.2"), Port: 80}
	rs := func(ip string, w int) ipvs.RealServer {
		return ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.MustParseAddr(ip), Port: 8080}, Weight: w}
	}
	var empty RealServerAdds
	if empty.Len() != 0 || empty.Slice() != nil {
		t.Fatal("the zero RealServerAdds is not empty")
	}
	// A shared list, then ops of another virtual server and of the same one
	// again, out of order: sorted by virtual server then real server, and
	// the shared list is never written.
	shared := NewRealServers([]ipvs.RealServer{rs("10.0.0.1", 1), rs("10.0.0.3", 1)})
	before := shared.Slice()
	var a RealServerAdds
	a.AddList(k2, shared)
	a.Append(RealServerOp{k1, rs("10.0.0.9", 1)})
	a.Append(RealServerOp{k1, rs("10.0.0.5", 1)})
	a.Append(RealServerOp{k2, rs("10.0.0.2", 1)})
	a.AddList(k1, RealServers{})
	a.sort()
	want := []RealServerOp{
		{k1, rs("10.0.0.5", 1)}, {k1, rs("10.0.0.9", 1)},
		{k2, rs("10.0.0.1", 1)}, {k2, rs("10.0.0.2", 1)}, {k2, rs("10.0.0.3", 1)},
	}
	if got := a.Slice(); !slices.Equal(got, want) {
		t.Errorf("All = %v\nwant %v", got, want)
	}
	if a.Len() != len(want) {
		t.Errorf("Len = %d, want %d", a.Len(), len(want))
	}
	for i, op := range want {
		if got := a.At(i); got != op {
			t.Errorf("At(%d) = %v, want %v", i, got, op)
		}
	}
	if !slices.Equal(shared.Slice(), before) {
		t.Errorf("the shared list changed: %v", shared.Slice())
	}
	// RealServerAddsOf sorts and, for a repeated key, keeps the later.
	b := RealServerAddsOf(want[4], want[0], want[2], RealServerOp{k1, rs("10.0.0.5", 7)})
	wantB := []RealServerOp{{k1, rs("10.0.0.5", 7)}, want[2], want[4]}
	if got := b.Slice(); !slices.Equal(got, wantB) {
		t.Errorf("RealServerAddsOf = %v\nwant %v", got, wantB)
	}
}

// A cold plan's real-server adds are the desired lists themselves: no copy.
func TestDiffSharesAddedLists(t *testing.T) {
	d := New()
	k := ipvs.Key{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 80}
	d.AddService(ipvs.VirtualServer{Key: k, Scheduler: "rr"})
	for i := range 10 {
		d.AddRealServer(k, ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Port: 80}, Weight: 1})
	}
	p := Diff(d, New())
	if p.AddRealServers.Len() != 10 || len(p.AddRealServers.groups) != 1 || !p.AddRealServers.groups[0].rss.Shares(d.Services[k].RealServers) {
		t.Errorf("the plan's adds are not the desired list: %+v", p.AddRealServers)
	}
}

package drain

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// benchPlan deletes one TCP real server from each of n virtual servers.
func benchPlan(n int) state.Plan {
	var p state.Plan
	for i := range n {
		k := ipvs.Key{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), Port: 80}
		p.DeleteRealServers = append(p.DeleteRealServers, op(k, rs("10.244.1.5:8080", 1)))
	}
	return p
}

// BenchmarkApply10kDrains: an event that removes an endpoint behind 10,000
// virtual servers (all drain).
func BenchmarkApply10kDrains(b *testing.B) {
	p := benchPlan(10_000)
	b.ReportAllocs()
	for b.Loop() {
		Apply(p, NewTracker(), t0, 0, nil)
	}
}

// BenchmarkApplyNothingDraining: the cost Apply adds to an ordinary plan
// (one real server added, one updated) while nothing drains.
func BenchmarkApplyNothingDraining(b *testing.B) {
	k := key(ipvs.TCP, "10.96.0.10:80")
	p := state.Plan{AddRealServers: state.RealServerAddsOf(op(k, a)), UpdateRealServers: []state.RealServerOp{op(k, b2)}}
	tr := NewTracker()
	b.ReportAllocs()
	for b.Loop() {
		Apply(p, tr, t0, 0, nil)
	}
}

var b2 = rs("10.244.9.9:8080", 1)

// BenchmarkCheck100: one virtual server with 100 real servers, 50 draining.
func BenchmarkCheck100(b *testing.B) {
	k := key(ipvs.TCP, "10.96.0.10:80")
	var dump []ipvs.RealServer
	conns := map[ipvs.RealServerKey]ipvs.Conns{}
	for i := range 100 {
		r := ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.AddrFrom4([4]byte{10, 244, 0, byte(i)}), Port: 8080}}
		dump = append(dump, r)
		conns[r.RealServerKey] = ipvs.Conns{Active: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		tr := NewTracker()
		for _, r := range dump[:50] {
			tr.add(k, r.RealServerKey, t0)
		}
		Check(tr, k, dump, conns, t0.Add(time.Second), 0)
	}
}

package state

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

func TestZeroStateUsable(t *testing.T) {
	var s State
	s.AddAddress(netip.MustParseAddr("10.96.0.10"))
	var s2 State
	s2.AddMember(clusterSet, ipset.Entry{IP: netip.MustParseAddr("10.96.0.10"), Protocol: "tcp", Port: 80})
	var s3 State
	svc := s3.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	if svc == nil || svc.RealServers.Len() != 0 || s3.Services[svc.Key] != svc {
		t.Fatalf("AddService on zero State = %+v", svc)
	}
	var s4 State
	s4.Merge(s3)
	assertState(t, s4, s3)
	if len(State{}.Clone().Services) != 0 {
		t.Error("Clone of zero State not empty")
	}
}

func TestAddServiceAndRealServer(t *testing.T) {
	s := New()
	key := k(ipvs.TCP, "10.96.0.10:80")
	first := s.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	s.AddRealServer(key, rs("10.244.1.5:8080", 1))
	// Re-adding replaces the settings and keeps the real servers.
	again := s.AddService(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 60))
	if again != first || again.Scheduler != "wrr" || again.Timeout != 60 || again.RealServers.Len() != 1 {
		t.Errorf("AddService again = %+v", again)
	}
	// Re-adding a real server replaces it.
	s.AddRealServer(key, rs("10.244.1.5:8080", 3))
	if got, _ := s.Services[key].RealServers.Get(rs("10.244.1.5:8080", 0).RealServerKey); got.Weight != 3 {
		t.Errorf("weight = %d", got.Weight)
	}
	// A real server of a missing virtual server is dropped.
	s.AddRealServer(k(ipvs.UDP, "10.96.0.10:80"), rs("10.244.1.5:8080", 1))
	if len(s.Services) != 1 {
		t.Errorf("AddRealServer created a virtual server: %s", dump(s))
	}
}

func TestClone(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		s := randomState(r)
		before := dump(s)
		c := s.Clone()
		assertState(t, c, s)
		// Mutating the clone deeply leaves the original alone.
		for key, svc := range c.Services {
			svc.Scheduler = "changed"
			svc.RealServers.Set(rs("10.1.1.1:1", 9))
			_ = key
		}
		c.AddService(vs(ipvs.TCP, "10.9.9.9:9", "rr", 0))
		c.AddAddress(netip.MustParseAddr("10.9.9.9"))
		c.AddMember("X", ipset.Entry{IP: netip.MustParseAddr("10.9.9.9"), Protocol: "tcp", Port: 9})
		if dump(s) != before {
			t.Fatal("mutating a Clone changed the original")
		}
	}
}

func TestMerge(t *testing.T) {
	a := New()
	key := k(ipvs.TCP, "10.96.0.10:80")
	a.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	a.AddRealServer(key, rs("10.244.1.5:8080", 1))
	a.AddAddress(netip.MustParseAddr("10.96.0.10"))
	a.Members.Add(mem(clusterSet, "10.96.0.10", "tcp", 80, ""))

	b := New()
	b.AddService(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 600))
	b.AddRealServer(key, rs("10.244.1.6:8080", 1))
	b.AddService(vs(ipvs.UDP, "10.96.0.11:53", "rr", 0))
	b.AddAddress(netip.MustParseAddr("10.96.0.11"))
	b.Members.Add(mem(hairpinSet, "10.244.1.6", "tcp", 8080, "10.244.1.6"))
	bBefore := dump(b)

	a.Merge(b)
	want := New()
	want.AddService(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 600)) // b's virtual server wins
	want.AddRealServer(key, rs("10.244.1.5:8080", 1))          // real servers are united
	want.AddRealServer(key, rs("10.244.1.6:8080", 1))
	want.AddService(vs(ipvs.UDP, "10.96.0.11:53", "rr", 0))
	want.AddAddress(netip.MustParseAddr("10.96.0.10"))
	want.AddAddress(netip.MustParseAddr("10.96.0.11"))
	want.Members.Add(mem(clusterSet, "10.96.0.10", "tcp", 80, ""))
	want.Members.Add(mem(hairpinSet, "10.244.1.6", "tcp", 8080, "10.244.1.6"))
	assertState(t, a, want)

	// Merge copies: the result shares nothing with o.
	a.AddRealServer(k(ipvs.UDP, "10.96.0.11:53"), rs("10.244.3.3:5353", 1))
	a.Services[key].Scheduler = "sh"
	if dump(b) != bBefore {
		t.Error("mutating the merge result changed the merged-in State")
	}
}

func TestScopeCoverRestrict(t *testing.T) {
	s := New()
	web, dns := k(ipvs.TCP, "10.96.0.10:80"), k(ipvs.UDP, "10.96.0.11:53")
	s.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	s.AddRealServer(web, rs("10.244.1.5:8080", 1))
	s.AddService(vs(ipvs.UDP, "10.96.0.11:53", "rr", 0))
	s.AddAddress(netip.MustParseAddr("10.96.0.10"))
	s.AddAddress(netip.MustParseAddr("10.96.0.11"))
	m1, m2 := mem(clusterSet, "10.96.0.10", "tcp", 80, ""), mem(clusterSet, "10.96.0.11", "udp", 53, "")
	s.Members.Add(m1)
	s.Members.Add(m2)

	sc := NewScope()
	if !sc.Empty() {
		t.Fatal("NewScope not empty")
	}
	if got := s.Restrict(sc); len(got.Services)+len(got.Addresses)+got.Members.Len() != 0 {
		t.Errorf("Restrict(empty scope) = %s", dump(got))
	}

	// Cover(part) then Restrict gives the part back.
	part := New()
	part.AddService(vs(ipvs.TCP, "10.96.0.10:80", "ignored", 0))
	part.AddAddress(netip.MustParseAddr("10.96.0.10"))
	part.Members.Add(m1)
	sc.Cover(part)
	if sc.Empty() || len(sc.Services) != 1 || len(sc.Addresses) != 1 || len(sc.Members) != 1 {
		t.Errorf("Cover = %+v", sc)
	}
	want := New()
	want.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	want.AddRealServer(web, rs("10.244.1.5:8080", 1))
	want.AddAddress(netip.MustParseAddr("10.96.0.10"))
	want.Members.Add(m1)
	got := s.Restrict(sc)
	assertState(t, got, want)
	// Restrict shares Service values with s (documented as read-only).
	if got.Services[web] != s.Services[web] {
		t.Error("Restrict copied a Service; documented to share")
	}

	// Keys in scope but not in s are simply absent.
	sc.Services[k(ipvs.SCTP, "10.1.1.1:1")] = struct{}{}
	sc.Addresses[netip.MustParseAddr("10.1.1.1")] = struct{}{}
	sc.Members[mem(hairpinSet, "10.1.1.1", "tcp", 1, "10.1.1.1")] = struct{}{}
	assertState(t, s.Restrict(sc), want)

	// Cover(s) then Restrict is s itself.
	full := NewScope()
	full.Cover(s)
	assertState(t, s.Restrict(full), s)
	_ = dns

	// Restrict of a zero State.
	if got := (State{}).Restrict(full); len(got.Services)+len(got.Addresses)+got.Members.Len() != 0 {
		t.Errorf("zero.Restrict = %s", dump(got))
	}
}

// An incremental Diff over a scope equals the full Diff restricted to it,
// when the scope covers everything that changed.
func TestDiffRestrictedToChange(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for seed := range 100 {
		o := randomState(r)
		change := randomState(r)
		d := o.Clone()
		// d = o with change's keys replaced by change's content (or dropped)
		sc := NewScope()
		sc.Cover(change)
		for key := range o.Services {
			if r.IntN(4) == 0 {
				sc.Services[key] = struct{}{}
			}
		}
		for key := range sc.Services {
			delete(d.Services, key)
		}
		for a := range sc.Addresses {
			delete(d.Addresses, a)
		}
		for m := range sc.Members {
			d.Members.Delete(m)
		}
		d.Merge(change)
		full := Diff(d, o).String()
		inc := Diff(d.Restrict(sc), o.Restrict(sc)).String()
		if full != inc {
			t.Fatalf("seed %d: full diff\n%s\nincremental\n%s", seed, full, inc)
		}
	}
}

func TestScopeUnion(t *testing.T) {
	a, b := NewScope(), NewScope()
	k1 := ipvs.Key{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 80}
	k2 := ipvs.Key{Protocol: ipvs.UDP, Address: netip.MustParseAddr("10.96.0.2"), Port: 53}
	a.Services[k1] = struct{}{}
	b.Services[k2] = struct{}{}
	b.Addresses[netip.MustParseAddr("10.96.0.2")] = struct{}{}
	b.Members[Member{Set: "S", Entry: ipset.Entry{IP: netip.MustParseAddr("10.96.0.2"), Protocol: "udp", Port: 53}}] = struct{}{}
	a.Union(b)
	if len(a.Services) != 2 || len(a.Addresses) != 1 || len(a.Members) != 1 {
		t.Errorf("Union: %d services, %d addresses, %d members; want 2, 1, 1", len(a.Services), len(a.Addresses), len(a.Members))
	}
	if len(b.Services) != 1 {
		t.Errorf("Union changed its argument: %d services", len(b.Services))
	}
}

package state

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

func TestDiff(t *testing.T) {
	base := func() State {
		st := New()
		st.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
		st.AddRealServer(k(ipvs.TCP, "10.96.0.10:80"), rs("10.244.1.5:8080", 1))
		st.AddAddress(netip.MustParseAddr("10.96.0.10"))
		st.AddMember(clusterSet, mem(clusterSet, "10.96.0.10", "tcp", 80, "").Entry)
		return st
	}
	key := k(ipvs.TCP, "10.96.0.10:80")
	tests := []struct {
		name     string
		desired  func() State
		observed func() State
		want     string // Plan.String()
	}{
		{
			name:     "equal states: empty plan",
			desired:  base,
			observed: base,
			want:     "",
		},
		{
			name:     "both empty (zero States)",
			desired:  func() State { return State{} },
			observed: func() State { return State{} },
			want:     "",
		},
		{
			name:     "everything missing: adds, virtual servers before real servers",
			desired:  base,
			observed: New,
			want: "add IPVS-PROXY-CLUSTER-IP 10.96.0.10,tcp:80\n" +
				"addr add 10.96.0.10\n" +
				"-A -t 10.96.0.10:80 -s rr\n" +
				"-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n",
		},
		{
			name:     "everything stale: deletes; a deleted virtual server takes its real servers along",
			desired:  func() State { return State{} },
			observed: base,
			want: "-D -t 10.96.0.10:80\n" +
				"addr del 10.96.0.10\n" +
				"del IPVS-PROXY-CLUSTER-IP 10.96.0.10,tcp:80\n",
		},
		{
			name: "scheduler differs: edited in place",
			desired: func() State {
				st := base()
				st.AddService(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 0))
				return st
			},
			observed: base,
			want:     "-E -t 10.96.0.10:80 -s wrr\n",
		},
		{
			name: "persistence timeout differs: edited in place",
			desired: func() State {
				st := base()
				st.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 10800))
				return st
			},
			observed: base,
			want:     "-E -t 10.96.0.10:80 -s rr -p 10800\n",
		},
		{
			name: "weight differs: real server edited in place",
			desired: func() State {
				st := base()
				st.AddRealServer(key, rs("10.244.1.5:8080", 0))
				return st
			},
			observed: base,
			want:     "-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0\n",
		},
		{
			name:    "forwarding differs: real server edited in place",
			desired: base,
			observed: func() State {
				st := base()
				r := rs("10.244.1.5:8080", 1)
				r.Forwarding = ipvs.Route
				st.AddRealServer(key, r)
				return st
			},
			want: "-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n",
		},
		{
			name: "real server added and removed under a kept virtual server",
			desired: func() State {
				st := base()
				st.Services[key].RealServers.Delete(rs("10.244.1.5:8080", 1).RealServerKey)
				st.AddRealServer(key, rs("10.244.1.6:8080", 1))
				return st
			},
			observed: base,
			want: "-a -t 10.96.0.10:80 -r 10.244.1.6:8080 -m -w 1\n" +
				"-d -t 10.96.0.10:80 -r 10.244.1.5:8080\n",
		},
		{
			name: "same address, other port: a different real server",
			desired: func() State {
				st := base()
				st.Services[key].RealServers.Delete(rs("10.244.1.5:8080", 1).RealServerKey)
				st.AddRealServer(key, rs("10.244.1.5:9090", 1))
				return st
			},
			observed: base,
			want: "-a -t 10.96.0.10:80 -r 10.244.1.5:9090 -m -w 1\n" +
				"-d -t 10.96.0.10:80 -r 10.244.1.5:8080\n",
		},
		{
			name: "same address and port, other protocol: a different virtual server",
			desired: func() State {
				st := New()
				st.AddService(vs(ipvs.UDP, "10.96.0.10:80", "rr", 0))
				st.AddAddress(netip.MustParseAddr("10.96.0.10"))
				st.AddMember(clusterSet, mem(clusterSet, "10.96.0.10", "udp", 80, "").Entry)
				return st
			},
			observed: base,
			want: "add IPVS-PROXY-CLUSTER-IP 10.96.0.10,udp:80\n" +
				"-A -u 10.96.0.10:80 -s rr\n" +
				"-D -t 10.96.0.10:80\n" +
				"del IPVS-PROXY-CLUSTER-IP 10.96.0.10,tcp:80\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, o := tt.desired(), tt.observed()
			p := Diff(d, o)
			if got := p.String(); got != tt.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.want)
			}
			if n := strings.Count(tt.want, "\n"); p.Len() != n || p.Empty() != (n == 0) {
				t.Errorf("Len() = %d, Empty() = %v, want %d ops", p.Len(), p.Empty(), n)
			}
			p.ApplyTo(&o)
			assertState(t, o, d)
		})
	}
}

// TestPlanString checks the exact text and the order of a plan with every
// kind of operation: members and addresses added first, virtual servers
// before real servers, removals after, ledger deletions very last.
func TestPlanString(t *testing.T) {
	o := New()
	web, gone := k(ipvs.TCP, "10.96.0.10:80"), k(ipvs.TCP, "10.96.0.20:443")
	o.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	o.AddRealServer(web, rs("10.244.1.5:8080", 1))
	o.AddRealServer(web, rs("10.244.1.6:8080", 1))
	o.AddService(vs(ipvs.TCP, "10.96.0.20:443", "rr", 0))
	o.AddRealServer(gone, rs("10.244.2.2:8443", 1))
	o.AddAddress(netip.MustParseAddr("10.96.0.10"))
	o.AddAddress(netip.MustParseAddr("10.96.0.20"))
	for _, m := range []Member{
		mem(clusterSet, "10.96.0.10", "tcp", 80, ""),
		mem(clusterSet, "10.96.0.20", "tcp", 443, ""),
		mem(hairpinSet, "10.244.1.5", "tcp", 8080, "10.244.1.5"),
		mem(hairpinSet, "10.244.1.6", "tcp", 8080, "10.244.1.6"),
	} {
		o.Members.Add(m)
	}

	d := New()
	dns, sig := k(ipvs.UDP, "10.96.0.11:53"), k(ipvs.SCTP, "[fd00::10]:9999")
	d.AddService(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 0))
	d.AddRealServer(web, rs("10.244.1.6:8080", 2))
	d.AddRealServer(web, rs("10.244.1.7:8080", 1))
	d.AddService(vs(ipvs.UDP, "10.96.0.11:53", "rr", 600))
	d.AddRealServer(dns, rs("10.244.3.3:5353", 1))
	d.AddService(vs(ipvs.SCTP, "[fd00::10]:9999", "rr", 0))
	d.AddRealServer(sig, rs("[fd00:244::5]:19999", 1))
	d.AddAddress(netip.MustParseAddr("10.96.0.10"))
	d.AddAddress(netip.MustParseAddr("10.96.0.11"))
	d.AddAddress(netip.MustParseAddr("fd00::10"))
	for _, m := range []Member{
		mem(clusterSet, "10.96.0.10", "tcp", 80, ""),
		mem(clusterSet, "10.96.0.11", "udp", 53, ""),
		mem("IPVS-PROXY6-CLUSTER-IP", "fd00::10", "sctp", 9999, ""),
		mem(hairpinSet, "10.244.1.6", "tcp", 8080, "10.244.1.6"),
		mem(hairpinSet, "10.244.1.7", "tcp", 8080, "10.244.1.7"),
	} {
		d.Members.Add(m)
	}

	const want = `add IPVS-PROXY-CLUSTER-IP 10.96.0.11,udp:53
add IPVS-PROXY-HAIRPIN 10.244.1.7,tcp:8080,10.244.1.7
add IPVS-PROXY6-CLUSTER-IP fd00::10,sctp:9999
addr add 10.96.0.11
addr add fd00::10
-A -u 10.96.0.11:53 -s rr -p 600
-A --sctp-service [fd00::10]:9999 -s rr
-E -t 10.96.0.10:80 -s wrr
-a -t 10.96.0.10:80 -r 10.244.1.7:8080 -m -w 1
-a -u 10.96.0.11:53 -r 10.244.3.3:5353 -m -w 1
-a --sctp-service [fd00::10]:9999 -r [fd00:244::5]:19999 -m -w 1
-e -t 10.96.0.10:80 -r 10.244.1.6:8080 -m -w 2
-d -t 10.96.0.10:80 -r 10.244.1.5:8080
-D -t 10.96.0.20:443
addr del 10.96.0.20
del IPVS-PROXY-CLUSTER-IP 10.96.0.20,tcp:443
del IPVS-PROXY-HAIRPIN 10.244.1.5,tcp:8080,10.244.1.5
`
	p := Diff(d, o)
	if got := p.String(); got != want {
		t.Errorf("Plan.String():\n%s\nwant:\n%s", got, want)
	}
	if p.Len() != 17 {
		t.Errorf("Len() = %d", p.Len())
	}
	// Diff is deterministic whatever the map order.
	for range 10 {
		if got := Diff(d, o).String(); got != want {
			t.Fatal("Diff not deterministic")
		}
	}
	p.ApplyTo(&o)
	assertState(t, o, d)
}

func TestDiffProperties(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		d, o := randomState(r), randomState(r)

		// Diff(x, x) is empty.
		if p := Diff(d, d.Clone()); !p.Empty() {
			t.Fatalf("seed %d: Diff(x, x) = %s", seed, p)
		}

		p := Diff(d, o)

		// never delete+add of the same key
		added := map[ipvs.Key]bool{}
		for _, v := range p.AddServices {
			added[v.Key] = true
			if _, ok := o.Services[v.Key]; ok {
				t.Fatalf("seed %d: adds existing %v", seed, v.Key)
			}
		}
		for _, key := range p.DeleteServices {
			if added[key] {
				t.Fatalf("seed %d: deletes and adds %v", seed, key)
			}
			if _, ok := d.Services[key]; ok {
				t.Fatalf("seed %d: deletes wanted %v", seed, key)
			}
		}
		deleted := map[ipvs.Key]bool{}
		for _, key := range p.DeleteServices {
			deleted[key] = true
		}
		type rsID struct {
			vs ipvs.Key
			rs ipvs.RealServerKey
		}
		addedRS := map[rsID]bool{}
		for op := range p.AddRealServers.All() {
			addedRS[rsID{op.Service, op.RealServer.RealServerKey}] = true
		}
		for _, op := range p.DeleteRealServers {
			if addedRS[rsID{op.Service, op.RealServer.RealServerKey}] {
				t.Fatalf("seed %d: deletes and adds real server %v", seed, op)
			}
			if deleted[op.Service] {
				t.Fatalf("seed %d: deletes a real server of a deleted virtual server %v", seed, op)
			}
		}
		for _, op := range p.UpdateRealServers {
			if addedRS[rsID{op.Service, op.RealServer.RealServerKey}] {
				t.Fatalf("seed %d: adds and updates %v", seed, op)
			}
		}
		for _, v := range p.UpdateServices {
			if added[v.Key] || o.Services[v.Key].VirtualServer == v {
				t.Fatalf("seed %d: needless update %v", seed, v)
			}
		}

		// Diff(d, o).ApplyTo(o) == d, and a second Diff is empty.
		oc := o.Clone()
		p.ApplyTo(&oc)
		if dump(oc) != dump(d) {
			t.Fatalf("seed %d: ApplyTo:\n%s\n--- want:\n%s\n--- plan:\n%s", seed, dump(oc), dump(d), p)
		}
		if p2 := Diff(d, oc); !p2.Empty() {
			t.Fatalf("seed %d: second Diff not empty: %s", seed, p2)
		}
	}
}

func TestDiffDoesNotModifyInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for range 50 {
		d, o := randomState(r), randomState(r)
		dd, od := dump(d), dump(o)
		Diff(d, o)
		if dump(d) != dd || dump(o) != od {
			t.Fatal("Diff modified an input")
		}
	}
}

func TestApplyToZeroState(t *testing.T) {
	d := New()
	d.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	d.AddRealServer(k(ipvs.TCP, "10.96.0.10:80"), rs("10.244.1.5:8080", 1))
	d.AddAddress(netip.MustParseAddr("10.96.0.10"))
	d.Members.Add(mem(clusterSet, "10.96.0.10", "tcp", 80, ""))
	var z State
	Diff(d, z).ApplyTo(&z)
	assertState(t, z, d)
}

func TestPlanEmptyString(t *testing.T) {
	var p Plan
	if !p.Empty() || p.Len() != 0 || p.String() != "" {
		t.Errorf("zero Plan: Empty=%v Len=%d String=%q", p.Empty(), p.Len(), p.String())
	}
}

package state

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

const nodePortSet = "IPVS-PROXY-NODE-PORT"

// testRecorder is the ledger's rule for the test sets: CLUSTER-IP members
// record a virtual server and its address, NODE-PORT members a virtual server.
func testRecorder(m Member) (ipvs.Key, bool, bool) {
	if m.Set != clusterSet && m.Set != nodePortSet {
		return ipvs.Key{}, false, false
	}
	p, _ := ipvs.ParseProtocol(m.Entry.Protocol)
	return ipvs.Key{Protocol: p, Address: m.Entry.IP, Port: m.Entry.Port}, true, m.Set == clusterSet
}

// opsText renders ops one a line with their dependencies as op lines.
func opsText(ops []Op) string {
	var b strings.Builder
	for i, op := range ops {
		fmt.Fprintf(&b, "%d %s", i, op)
		for _, d := range op.Deps {
			fmt.Fprintf(&b, " <- %d", d)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestOps(t *testing.T) {
	// 10.96.0.20:443 goes; 10.96.0.30:80 switches ledger role (NODE-PORT -> CLUSTER-IP).
	web, np := k(ipvs.TCP, "10.96.0.10:80"), k(ipvs.TCP, "192.168.1.10:30080")
	o := New()
	o.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
	o.AddRealServer(web, rs("10.244.1.5:8080", 1))
	o.AddService(vs(ipvs.TCP, "10.96.0.20:443", "rr", 0))
	o.AddService(vs(ipvs.TCP, "10.96.0.30:80", "rr", 0))
	o.AddAddress(netip.MustParseAddr("10.96.0.10"))
	o.AddAddress(netip.MustParseAddr("10.96.0.20"))
	for _, m := range []Member{
		mem(clusterSet, "10.96.0.10", "tcp", 80, ""),
		mem(clusterSet, "10.96.0.20", "tcp", 443, ""),
		mem(nodePortSet, "10.96.0.30", "tcp", 80, ""),
	} {
		o.Members.Add(m)
	}
	d := New()
	d.AddService(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 0))
	d.AddRealServer(web, rs("10.244.1.6:8080", 1))
	d.AddService(vs(ipvs.TCP, "192.168.1.10:30080", "rr", 0))
	d.AddRealServer(np, rs("10.244.1.6:8080", 1))
	d.AddService(vs(ipvs.TCP, "10.96.0.30:80", "rr", 0))
	d.AddAddress(netip.MustParseAddr("10.96.0.10"))
	d.AddAddress(netip.MustParseAddr("10.96.0.30"))
	for _, m := range []Member{
		mem(clusterSet, "10.96.0.10", "tcp", 80, ""),
		mem(clusterSet, "10.96.0.30", "tcp", 80, ""),
		mem(nodePortSet, "192.168.1.10", "tcp", 30080, ""),
		mem(hairpinSet, "10.244.1.6", "tcp", 8080, "10.244.1.6"),
	} {
		d.Members.Add(m)
	}
	p := Diff(d, o)
	const want = `0 add IPVS-PROXY-CLUSTER-IP 10.96.0.30,tcp:80
1 add IPVS-PROXY-HAIRPIN 10.244.1.6,tcp:8080,10.244.1.6
2 add IPVS-PROXY-NODE-PORT 192.168.1.10,tcp:30080
3 addr add 10.96.0.30 <- 0
4 -A -t 192.168.1.10:30080 -s rr <- 2
5 -E -t 10.96.0.10:80 -s wrr
6 -a -t 10.96.0.10:80 -r 10.244.1.6:8080 -m -w 1
7 -a -t 192.168.1.10:30080 -r 10.244.1.6:8080 -m -w 1 <- 4
8 -d -t 10.96.0.10:80 -r 10.244.1.5:8080
9 -D -t 10.96.0.20:443
10 addr del 10.96.0.20
11 del IPVS-PROXY-CLUSTER-IP 10.96.0.20,tcp:443 <- 9 <- 10
12 del IPVS-PROXY-NODE-PORT 10.96.0.30,tcp:80 <- 0
`
	ops := p.Ops(testRecorder)
	assertOpsText(t, opsText(ops), want)
	// The ops print as the plan does, and without a ledger only real
	// servers depend on their virtual servers.
	var lines strings.Builder
	for _, op := range p.Ops(nil) {
		lines.WriteString(op.String() + "\n")
		if len(op.Deps) > 0 && op.Kind != AddRealServer {
			t.Errorf("without a ledger %s depends on %v", op, op.Deps)
		}
	}
	if lines.String() != p.String() {
		t.Errorf("ops text:\n%s\nplan:\n%s", lines.String(), p)
	}
	// At is All's op i without its Deps; All stops when told to.
	for i, op := range ops {
		op.Deps = nil
		if got := p.At(i); fmt.Sprint(got) != fmt.Sprint(op) {
			t.Errorf("At(%d) = %+v, want %+v", i, got, op)
		}
	}
	n := 0
	for i := range p.All(testRecorder) {
		if n++; i == 4 {
			break
		}
	}
	if n != 5 {
		t.Errorf("All yielded %d ops after break at 4", n)
	}
}

func assertOpsText(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("ops:\n%s\nwant:\n%s", got, want)
	}
}

// For random plans: deps point backwards, and running the ops while a
// random subset fails (skipping the dependents of failures) never leaves a
// virtual server or an address without a ledger member that records it,
// given a start where everything was recorded.
func TestOpsNeverLeaveUnrecorded(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		o, d := recordedState(r), recordedState(r)
		ops := Diff(d, o).Ops(testRecorder)
		failed := make([]bool, len(ops))
		st := o.Clone()
		for i, op := range ops {
			for _, dep := range op.Deps {
				if dep >= i {
					t.Fatalf("seed %d: op %d (%s) depends on %d", seed, i, op, dep)
				}
				if failed[dep] {
					failed[i] = true
				}
			}
			if failed[i] || r.IntN(4) == 0 {
				failed[i] = true
				continue
			}
			op.ApplyTo(&st)
			if msg := unrecorded(st); msg != "" {
				t.Fatalf("seed %d: after op %d (%s): %s\nops:\n%s", seed, i, op, msg, opsText(ops))
			}
		}
	}
}

// recordedState is a random State in which every virtual server and address
// is recorded by a ledger member.
func recordedState(r *rand.Rand) State {
	st := New()
	for _, ip := range []string{"10.96.0.1", "10.96.0.2", "10.96.0.3"} {
		for _, port := range []uint16{80, 81} {
			if r.IntN(2) == 0 {
				continue
			}
			set := clusterSet
			if r.IntN(3) == 0 {
				set = nodePortSet
			}
			a := netip.MustParseAddr(ip)
			key := ipvs.Key{Protocol: ipvs.TCP, Address: a, Port: port}
			st.AddService(ipvs.VirtualServer{Key: key, Scheduler: []string{"rr", "wrr"}[r.IntN(2)]})
			st.AddRealServer(key, rs(fmt.Sprintf("10.244.0.%d:8080", 1+r.IntN(3)), 1))
			st.AddMember(set, mem(set, ip, "tcp", port, "").Entry)
			if set == clusterSet {
				st.AddAddress(a)
			}
		}
	}
	return st
}

// unrecorded names a virtual server or address of st no member records.
func unrecorded(st State) string {
	vs, addrs := map[ipvs.Key]bool{}, map[netip.Addr]bool{}
	for m := range st.Members.All() {
		if k, ok, addr := testRecorder(m); ok {
			vs[k] = true
			if addr {
				addrs[k.Address] = true
			}
		}
	}
	for k := range st.Services {
		if !vs[k] {
			return "virtual server " + k.String() + " unrecorded"
		}
	}
	for a := range st.Addresses {
		if !addrs[a] {
			return "address " + a.String() + " unrecorded"
		}
	}
	return ""
}

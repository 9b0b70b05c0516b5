package cleanup

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// fakeChains stands in for rules.Kernel.RemoveChains: kube-proxy's nat
// chains exist (IPv4) until removed.
type fakeChains struct{ removed []string }

func (f *fakeChains) RemoveChains(fam rules.Family, table string, chains []string, dryRun bool) ([]string, error) {
	if fam != rules.IPv4 || table != "nat" || len(f.removed) > 0 {
		return nil, nil
	}
	lines := []string{"-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES", ":KUBE-SERVICES - [0:0]", "-X KUBE-SERVICES"}
	if !dryRun {
		f.removed = append(f.removed, string(fam)+" "+table)
	}
	return lines, nil
}

type testKernel struct {
	Kernel
	ipvs   *ipvs.Fake
	sets   *ipset.Fake
	links  *netif.Fake
	rules  *rules.Fake
	chains *fakeChains
}

func key(proto ipvs.Protocol, ap string) ipvs.Key {
	a := netip.MustParseAddrPort(ap)
	return ipvs.Key{Protocol: proto, Address: a.Addr(), Port: a.Port()}
}

// A node where ipvs-proxy owns 10.96.0.10:80 (ClusterIP) and
// 192.168.1.10:30080 (NodePort), kube-proxy left 10.96.0.20:53/udp and a
// NodePort 192.168.1.10:30053, and someone else runs 172.16.0.1:80.
func newTestKernel(t *testing.T) *testKernel {
	t.Helper()
	tk := &testKernel{ipvs: ipvs.NewFake(), sets: ipset.NewFake(), links: netif.NewFake(), rules: rules.NewFake(), chains: &fakeChains{}}
	tk.Kernel = Kernel{IPVS: tk.ipvs, Sets: tk.sets, Links: tk.links, Rules: tk.rules, Chains: tk.chains}
	for _, s := range desired.AllSets() {
		must(t, tk.sets.Ensure(s))
	}
	must(t, tk.sets.Ensure(ipset.Set{Name: "KUBE-CLUSTER-IP", Type: "hash:ip,port", Family: "inet"}))
	ours := []ipvs.Key{key(ipvs.TCP, "10.96.0.10:80"), key(ipvs.TCP, "192.168.1.10:30080")}
	for _, k := range ours {
		for _, m := range ledger.Members(k) {
			must(t, tk.sets.Add(m.Set, m.Entry))
		}
	}
	for _, k := range append(ours, key(ipvs.UDP, "10.96.0.20:53"), key(ipvs.TCP, "192.168.1.10:30053"), key(ipvs.TCP, "172.16.0.1:80")) {
		must(t, tk.ipvs.AddVirtualServer(ipvs.VirtualServer{Key: k, Scheduler: "rr"}))
	}
	tk.links.AddLink("eth0", "device", netip.MustParseAddr("192.168.1.10"))
	tk.links.AddLink("kube-ipvs0", "dummy", netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("10.96.0.20"), netip.MustParseAddr("fe80::1"))
	must(t, tk.rules.Apply(rules.Ruleset{Family: rules.IPv4, Tables: []rules.Table{{
		Name:   "nat",
		Chains: []rules.Chain{{Name: "IPVS-PROXY-SERVICES", Rules: []string{"-j RETURN"}}},
		Jumps:  []rules.Jump{{Chain: "PREROUTING", Rule: "-j IPVS-PROXY-SERVICES"}},
	}}}))
	return tk
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func plan(t *testing.T, tk *testKernel, kubeProxy bool) Plan {
	t.Helper()
	o, err := Observe(tk.Kernel, "kube-ipvs0", kubeProxy)
	must(t, err)
	if kubeProxy {
		return KubeProxy(o)
	}
	return Ours(o)
}

// `ipvs-proxy cleanup` removes exactly what the ledger records and our
// chains and sets; kube-proxy's objects and the foreign virtual server stay.
func TestCleanupOursRemovesExactlyOurs(t *testing.T) {
	tk := newTestKernel(t)
	p := plan(t, tk, false)
	want := `# IPVS virtual servers (with their real servers)
ipvsadm -D -t 10.96.0.10:80
ipvsadm -D -t 192.168.1.10:30080
# addresses on kube-ipvs0
ip addr del 10.96.0.10/32 dev kube-ipvs0
# iptables (inet): our chains and the jumps into them
-t nat -D PREROUTING -j IPVS-PROXY-SERVICES
-t nat -F IPVS-PROXY-SERVICES
-t nat -X IPVS-PROXY-SERVICES
# ipsets
` + destroySets()
	if got := p.String(); got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
	must(t, Execute(tk.Kernel, p))
	if got, want := tk.ipvs.String(), "-A -t 172.16.0.1:80 -s rr\n-A -t 192.168.1.10:30053 -s rr\n-A -u 10.96.0.20:53 -s rr\n"; got != want {
		t.Errorf("IPVS after cleanup:\n%s\nwant:\n%s", got, want)
	}
	addrs, err := tk.links.Addresses("kube-ipvs0")
	must(t, err)
	if len(addrs) != 2 || addrs[0].String() != "10.96.0.20" || addrs[1].String() != "fe80::1" {
		t.Errorf("kube-ipvs0 after cleanup: %v", addrs)
	}
	if sets := tk.sets.Sets(); len(sets) != 1 || sets[0].Name != "KUBE-CLUSTER-IP" {
		t.Errorf("sets after cleanup: %v", sets)
	}
	if rs, _ := tk.rules.Dump(rules.IPv4); hasRules(rs) {
		t.Errorf("our rules left: %+v", rs)
	}
	if len(tk.chains.removed) != 0 {
		t.Errorf("kube-proxy chains touched: %v", tk.chains.removed)
	}
	// Run again: nothing left to remove.
	if p := plan(t, tk, false); !p.Empty() {
		t.Errorf("second run plans:\n%s", p)
	}
}

// `cleanup --kube-proxy` removes kube-proxy's leftovers and keeps ours and
// the foreign virtual server.
func TestCleanupKubeProxyKeepsOurs(t *testing.T) {
	tk := newTestKernel(t)
	p := plan(t, tk, true)
	want := `# IPVS virtual servers (with their real servers)
ipvsadm -D -t 192.168.1.10:30053
ipvsadm -D -u 10.96.0.20:53
# addresses on kube-ipvs0
ip addr del 10.96.0.20/32 dev kube-ipvs0
# iptables-restore --noflush (inet)
*nat
-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
:KUBE-SERVICES - [0:0]
-X KUBE-SERVICES
COMMIT
# ipsets
ipset destroy KUBE-CLUSTER-IP
`
	if got := p.String(); got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
	must(t, Execute(tk.Kernel, p))
	if got, want := tk.ipvs.String(), "-A -t 172.16.0.1:80 -s rr\n-A -t 192.168.1.10:30080 -s rr\n-A -t 10.96.0.10:80 -s rr\n"; got != want {
		t.Errorf("IPVS after cleanup:\n%s\nwant:\n%s", got, want)
	}
	if got := strings.Join(tk.chains.removed, ","); got != "inet nat" {
		t.Errorf("chains removed: %q", got)
	}
	if sets := tk.sets.Sets(); len(sets) != len(desired.AllSets()) {
		t.Errorf("sets after cleanup: %v", sets)
	}
	if p := plan(t, tk, true); !p.Empty() {
		t.Errorf("second run plans:\n%s", p)
	}
}

// A failed virtual-server delete keeps the ledger (our sets), so the next
// run still knows what is ours.
func TestCleanupKeepsLedgerOnFailure(t *testing.T) {
	tk := newTestKernel(t)
	p := plan(t, tk, false)
	tk.ipvs.FailNext(ipvs.OpDeleteVirtualServer, errBusy)
	if err := Execute(tk.Kernel, p); err == nil || !strings.Contains(err.Error(), "ipsets kept") {
		t.Fatalf("Execute = %v, want an error saying the sets were kept", err)
	}
	if p := plan(t, tk, false); len(p.VirtualServers) != 1 || len(p.Sets) != len(desired.AllSets()) {
		t.Errorf("second run does not find the rest:\n%s", p)
	}
}

var errBusy = errorString("device or resource busy")

type errorString string

func (e errorString) Error() string { return string(e) }

// destroySets is the plan's ipset part for every set ipvs-proxy makes.
func destroySets() string {
	names := OurSetNames()
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString("ipset destroy " + n + "\n")
	}
	return b.String()
}

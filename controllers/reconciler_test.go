package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

var errBoom = errors.New("boom")

// webAndDNS is a NodePort Service with three endpoints and a UDP ClusterIP
// Service with one.
func webAndDNS() *mapSource {
	src := newSource()
	src.put(service("default/web", "10.96.0.10", port("http", "", 80, 30080)),
		epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2", "10.244.3.3"))
	src.put(service("kube-system/dns", "10.96.0.53", port("dns", corev1.ProtocolUDP, 53, 0)),
		epSlice("kube-system/dns-1", "dns", "dns", corev1.ProtocolUDP, 5353, "10.244.1.7"))
	return src
}

// The exact kernel text for webAndDNS. ipvsadm lists 192.168.1.10 before
// 10.96.0.10 (libipvs compares addresses by the sign of a 32-bit difference).
const webAndDNSIPVS = `-A -t 192.168.1.10:30080 -s rr
-a -t 192.168.1.10:30080 -r 10.244.1.1:8080 -m -w 1
-a -t 192.168.1.10:30080 -r 10.244.2.2:8080 -m -w 1
-a -t 192.168.1.10:30080 -r 10.244.3.3:8080 -m -w 1
-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.1.1:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.2.2:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.3.3:8080 -m -w 1
-A -u 10.96.0.53:53 -s rr
-a -u 10.96.0.53:53 -r 10.244.1.7:5353 -m -w 1
`

const webAndDNSSets = `create IPVS-PROXY-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add IPVS-PROXY-CLUSTER-IP 10.96.0.10,tcp:80
add IPVS-PROXY-CLUSTER-IP 10.96.0.53,udp:53
create IPVS-PROXY-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-EXTERNAL-IP-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-HAIRPIN hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add IPVS-PROXY-HAIRPIN 10.244.1.1,tcp:8080,10.244.1.1
add IPVS-PROXY-HAIRPIN 10.244.1.7,udp:5353,10.244.1.7
add IPVS-PROXY-HAIRPIN 10.244.2.2,tcp:8080,10.244.2.2
add IPVS-PROXY-HAIRPIN 10.244.3.3,tcp:8080,10.244.3.3
create IPVS-PROXY-HEALTH-CHECK hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-IPS hash:ip family inet hashsize 1024 maxelem 65536
add IPVS-PROXY-IPS 10.96.0.10
add IPVS-PROXY-IPS 10.96.0.53
create IPVS-PROXY-LB-FW hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-LB-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-LB-SOURCE-IP hash:ip,port,ip family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY-NODE-PORT hash:ip,port family inet hashsize 1024 maxelem 65536
add IPVS-PROXY-NODE-PORT 192.168.1.10,tcp:30080
create IPVS-PROXY-NODE-PORT-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
create IPVS-PROXY6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-EXTERNAL-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-EXTERNAL-IP-LOCAL hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-HAIRPIN hash:ip,port,ip family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-HEALTH-CHECK hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-IPS hash:ip family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-LB-FW hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-LB-SOURCE-CIDR hash:ip,port,net family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-LB-SOURCE-IP hash:ip,port,ip family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-LOAD-BALANCER hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-LOAD-BALANCER-LOCAL hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-NODE-PORT hash:ip,port family inet6 hashsize 1024 maxelem 65536
create IPVS-PROXY6-NODE-PORT-LOCAL hash:ip,port family inet6 hashsize 1024 maxelem 65536
`

// oracle returns the dump of fresh fakes after one Full sync of src: what
// any sequence of syncs over src must converge to (without foreign objects).
func oracle(t *testing.T, src Source) string {
	t.Helper()
	fk := newFakeKernel()
	if _, err := newTestReconciler(t, fk).Full(context.Background(), src); err != nil {
		t.Fatalf("oracle Full: %v", err)
	}
	return fk.dump()
}

// assertCacheTruthful compares the reconciler's cache with a fresh
// observation of the kernel. It calls the fakes (Dump, List, Addresses).
func assertCacheTruthful(t *testing.T, r *Reconciler) {
	t.Helper()
	obs, err := r.observe()
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	assertText(t, "cache vs kernel", r.cache.Format(dummy), obs.owned.Format(dummy))
}

func mustFull(t *testing.T, r *Reconciler, src Source) Result {
	t.Helper()
	res, err := r.Full(context.Background(), src)
	if err != nil {
		t.Fatalf("Full: %v", err)
	}
	return res
}

func mustIncremental(t *testing.T, r *Reconciler, src Source, names ...types.NamespacedName) Result {
	t.Helper()
	res, err := r.Incremental(context.Background(), src, names)
	if err != nil {
		t.Fatalf("Incremental %v: %v", names, err)
	}
	return res
}

func problemsOf(res Result, n string) string { return strings.Join(res.Problems[nsn(n)], "; ") }

// 1. First sync.
func TestFullFirstSync(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	if r.Synced() {
		t.Fatal("Synced before the first sync")
	}
	res := mustFull(t, r, src)
	if !res.Full || !r.Synced() {
		t.Errorf("Full=%v Synced=%v, want both true", res.Full, r.Synced())
	}
	for _, n := range []string{"default/web", "kube-system/dns"} {
		if p, ok := res.Problems[nsn(n)]; !ok || p != nil {
			t.Errorf("Problems[%s] = %v, %v; want present and nil", n, p, ok)
		}
	}

	assertText(t, "ipvsadm -Sn", fk.ipvs.String(), webAndDNSIPVS)
	assertText(t, "ipset save", fk.sets.Save(), webAndDNSSets)
	if got, want := fk.dummyAddrs(), []string{"10.96.0.10", "10.96.0.53"}; !slices.Equal(got, want) {
		t.Errorf("addresses on %s = %v, want %v", dummy, got, want)
	}
	links := fk.links.Links()
	if i := slices.IndexFunc(links, func(l netif.Link) bool { return l.Name == dummy }); i < 0 || links[i].Kind != "dummy" || !links[i].Up {
		t.Errorf("dummy link missing or wrong: %+v", links)
	}
	// eth0 and lo untouched.
	for _, l := range links {
		if l.Name == "eth0" && !slices.Equal(l.Addrs, []netip.Addr{netip.MustParseAddr("192.168.1.10")}) ||
			l.Name == "lo" && !slices.Equal(l.Addrs, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
			t.Errorf("node link changed: %+v", l)
		}
	}

	// Rules: the IPv4 ruleset For the node, applied once; no IPv6 (no IPv6 node address).
	if got := fk.rules.Calls(); !slices.Equal(got, []string{"Dump inet", "Apply inet"}) {
		t.Errorf("rules calls = %v", got)
	}
	want := desired.Rules(testConfig(), []netip.Addr{netip.MustParseAddr("192.168.1.10")})
	if len(want) != 1 {
		t.Fatalf("desired.Rules: %d families", len(want))
	}
	got, _ := fk.rules.Dump(rules.IPv4)
	assertText(t, "iptables rules", got.String(), want[0].String())
	for _, s := range []string{"--match-set IPVS-PROXY-CLUSTER-IP dst,dst", "--match-set IPVS-PROXY-NODE-PORT dst,dst", "! -s 10.244.0.0/16"} {
		if !strings.Contains(got.String(), s) {
			t.Errorf("rules lack %q", s)
		}
	}
	if got6, _ := fk.rules.Dump(rules.IPv6); len(got6.Tables) != 0 {
		t.Errorf("IPv6 rules applied: %s", got6)
	}

	if got, want := fk.sysctls.Sets(), []string{
		"net/ipv4/vs/conntrack=1", "net/ipv4/vs/expire_nodest_conn=1",
		"net/ipv4/vs/expire_quiescent_template=1", "net/ipv4/ip_forward=1",
	}; !slices.Equal(got, want) {
		t.Errorf("sysctl sets = %v, want %v", got, want)
	}

	// One dump per object kind, one call per object.
	if c := fk.ipvs.Calls(); c.Dump != 1 || c.AddVirtualServer != 3 || c.AddRealServer != 4+3 || c.Mutations() != 10 {
		t.Errorf("ipvs calls = %+v", c)
	}
	if c := fk.sets.Calls(); c.Create != 26 || c.List != 26 || c.Add != 3+4+2 || c.Del != 0 {
		t.Errorf("ipset calls = %+v", c)
	}
	if c := fk.links.Calls(); c.CreateLink != 1 || c.AddAddress != 2 || c.DelAddress != 0 || c.Addresses != 1 || c.LocalAddresses != 1 {
		t.Errorf("netif calls = %+v", c)
	}
	if got := res.Plan.Len(); got != 9+2+3+7 {
		t.Errorf("plan has %d operations:\n%s", got, res.Plan)
	}
	assertCacheTruthful(t, r)
}

// Ledger entries are added before what they record and deleted after it.
func TestLedgerOrder(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	var mu sync.Mutex
	var bad []string
	inLedger := func(k ipvs.Key) bool {
		for _, m := range ledger.Members(k) {
			es, err := fk.sets.List(m.Set)
			if err == nil && slices.Contains(es, m.Entry) {
				return true
			}
		}
		return false
	}
	fk.ipvs.Inject(func(op ipvs.Op, k ipvs.Key) error {
		switch op {
		case ipvs.OpAddVirtualServer, ipvs.OpDeleteVirtualServer, ipvs.OpUpdateVirtualServer:
			if !inLedger(k) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s %s without a ledger entry", op, k))
				mu.Unlock()
			}
		}
		return nil
	})
	mustFull(t, r, src)
	src.del(nsn("default/web"))
	mustIncremental(t, r, src, nsn("default/web"))
	src.del(nsn("kube-system/dns"))
	mustFull(t, r, src)
	if len(bad) > 0 {
		t.Errorf("ordering violations:\n%s", strings.Join(bad, "\n"))
	}
	if got := fk.ipvs.String(); got != "" {
		t.Errorf("virtual servers left:\n%s", got)
	}
	if got := fk.members(); got != "" {
		t.Errorf("members left:\n%s", got)
	}
}

// manyServices returns n ClusterIP Services default/svc-I at 10.96.X.Y:80
// with three endpoints each.
func manyServices(n int) *mapSource {
	src := newSource()
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		src.put(service("default/"+name, ip, tcp("http", 80)),
			epSlice("default/"+name+"-1", name, "http", "", 8080,
				fmt.Sprintf("10.244.%d.1", i), fmt.Sprintf("10.244.%d.2", i), fmt.Sprintf("10.244.%d.3", i)))
	}
	return src
}

// 2. An incremental sync changes only the named Service and does not re-read the kernel.
func TestIncrementalChangesOnlyThatService(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := manyServices(50)
	mustFull(t, r, src)
	before := fk.ipvs.String()
	m := fk.resetCalls()

	n := nsn("default/svc-7")
	src.setSlices(n, epSlice("default/svc-7-1", "svc-7", "http", "", 8080, "10.244.7.1", "10.244.7.3", "10.244.7.9"))
	res := mustIncremental(t, r, src, n)

	c := fk.ipvs.Calls()
	if c.AddRealServer != 1 || c.DeleteRealServer != 1 || c.Mutations() != 2 {
		t.Errorf("ipvs calls = %+v, want exactly 1 add and 1 delete of a real server", c)
	}
	if c.Dump != 0 {
		t.Errorf("incremental sync dumped IPVS %d times", c.Dump)
	}
	if k := mustKey("tcp 10.96.0.8:80"); !slices.Equal(c.Touched, []ipvs.Key{k}) {
		t.Errorf("touched %v, want only %v", c.Touched, k)
	}
	// The hairpin members follow the endpoints; nothing is listed or created.
	if c := fk.sets.Calls(); c.Add != 1 || c.Del != 1 || c.List != 0 || c.Ensure != 0 {
		t.Errorf("ipset calls = %+v", c)
	}
	if c := fk.links.Calls(); c != (netif.Calls{}) {
		t.Errorf("netif calls = %+v", c)
	}
	if got := fk.rules.Calls()[m.rules:]; len(got) != 0 {
		t.Errorf("rules calls = %v", got)
	}
	if got := fk.sysctls.Sets()[m.sysctls:]; len(got) != 0 {
		t.Errorf("sysctl sets = %v", got)
	}
	if got := res.Plan.String(); got != `add IPVS-PROXY-HAIRPIN 10.244.7.9,tcp:8080,10.244.7.9
-a -t 10.96.0.8:80 -r 10.244.7.9:8080 -m -w 1
-d -t 10.96.0.8:80 -r 10.244.7.2:8080
del IPVS-PROXY-HAIRPIN 10.244.7.2,tcp:8080,10.244.7.2
` {
		t.Errorf("plan:\n%s", got)
	}
	if got := diffText(fk.ipvs.String(), before); got != "- -a -t 10.96.0.8:80 -r 10.244.7.2:8080 -m -w 1\n+ -a -t 10.96.0.8:80 -r 10.244.7.9:8080 -m -w 1\n" {
		t.Errorf("ipvs change (-before +after):\n%s", got)
	}
	assertText(t, "kernel after incremental vs oracle", fk.dump(), oracle(t, src))
	fk.resetCalls()
	assertCacheTruthful(t, r)
}

// An incremental sync of a name with nothing to change makes no kernel call.
func TestIncrementalNoChangeNoCalls(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	m := fk.resetCalls()
	res := mustIncremental(t, r, src, nsn("default/web"), nsn("default/never-existed"))
	if !res.Plan.Empty() {
		t.Errorf("plan:\n%s", res.Plan)
	}
	assertNoMutations(t, fk, m)
	if c := fk.ipvs.Calls(); c.Dump != 0 {
		t.Errorf("ipvs calls = %+v", c)
	}
}

// 3. Stale removal.
func TestStaleRemoval(t *testing.T) {
	t.Run("incremental delete", func(t *testing.T) {
		fk := newFakeKernel()
		r := newTestReconciler(t, fk)
		src := webAndDNS()
		mustFull(t, r, src)
		fk.resetCalls()
		src.del(nsn("default/web"))
		res := mustIncremental(t, r, src, nsn("default/web"))
		assertText(t, "ipvsadm -Sn", fk.ipvs.String(), "-A -u 10.96.0.53:53 -s rr\n-a -u 10.96.0.53:53 -r 10.244.1.7:5353 -m -w 1\n")
		if got := fk.dummyAddrs(); !slices.Equal(got, []string{"10.96.0.53"}) {
			t.Errorf("addresses = %v", got)
		}
		assertText(t, "members", fk.members(), `add IPVS-PROXY-CLUSTER-IP 10.96.0.53,udp:53
add IPVS-PROXY-HAIRPIN 10.244.1.7,udp:5353,10.244.1.7
add IPVS-PROXY-IPS 10.96.0.53
`)
		// Deleting a virtual server takes its real servers with it.
		if c := fk.ipvs.Calls(); c.DeleteVirtualServer != 2 || c.Mutations() != 2 || c.Dump != 0 {
			t.Errorf("ipvs calls = %+v", c)
		}
		if c := fk.links.Calls(); c.DelAddress != 1 || c.AddAddress != 0 {
			t.Errorf("netif calls = %+v", c)
		}
		if c := fk.sets.Calls(); c.Del != 2+3+1 || c.Add != 0 {
			t.Errorf("ipset calls = %+v", c)
		}
		if _, ok := res.Problems[nsn("default/web")]; ok {
			t.Errorf("problems for a deleted Service: %v", res.Problems)
		}
		assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
		fk.resetCalls()
		assertCacheTruthful(t, r)
	})
	t.Run("full after a missed delete", func(t *testing.T) {
		fk := newFakeKernel()
		r := newTestReconciler(t, fk)
		src := webAndDNS()
		mustFull(t, r, src)
		src.del(nsn("kube-system/dns")) // no event
		mustFull(t, r, src)
		assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
		if strings.Contains(fk.dump(), "10.96.0.53") || strings.Contains(fk.dump(), "10.244.1.7") {
			t.Errorf("dns left behind:\n%s", fk.dump())
		}
		// And a restarted process that never saw the Service removes it too.
		src.del(nsn("default/web"))
		mustFull(t, newTestReconciler(t, fk), src)
		if got := fk.ipvs.String() + fk.members() + strings.Join(fk.dummyAddrs(), ","); got != "" {
			t.Errorf("left behind:\n%s", got)
		}
	})
}

// 4. A restarted process adopts what it finds and changes nothing.
func TestRestartAdoption(t *testing.T) {
	fk := newFakeKernel()
	src := manyServices(20)
	src.del(nsn("default/svc-9")) // its cluster IP is web's: a conflict, which web would lose
	for _, s := range webAndDNS().Services() {
		src.put(s.expand(), webAndDNS().Slices(s.name())...)
	}
	mustFull(t, newTestReconciler(t, fk), src)
	before := fk.dump()

	m := fk.resetCalls()
	b := newTestReconciler(t, fk)
	res := mustFull(t, b, src)
	assertNoMutations(t, fk, m)
	if !res.Plan.Empty() {
		t.Errorf("plan after restart:\n%s", res.Plan)
	}
	assertText(t, "kernel after restart", fk.dump(), before)

	// The adopted cache supports incremental syncs at once.
	n := nsn("default/web")
	src.setSlices(n, epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2"))
	fk.resetCalls()
	mustIncremental(t, b, src, n)
	if c := fk.ipvs.Calls(); c.DeleteRealServer != 2 || c.Mutations() != 2 {
		t.Errorf("ipvs calls = %+v", c)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
}

const foreignText = "-A -t 10.0.0.99:80 -s wrr\n-a -t 10.0.0.99:80 -r 10.1.1.1:80 -m -w 3\n"

func addForeign(t *testing.T, fk *fakeKernel) ipvs.Key {
	t.Helper()
	k := mustKey("tcp 10.0.0.99:80")
	if err := fk.ipvs.AddVirtualServer(ipvs.VirtualServer{Key: k, Scheduler: "wrr"}); err != nil {
		t.Fatal(err)
	}
	r := rs("10.1.1.1:80")
	r.Weight = 3
	if err := fk.ipvs.AddRealServer(k, r); err != nil {
		t.Fatal(err)
	}
	return k
}

func assertForeignIntact(t *testing.T, fk *fakeKernel, k ipvs.Key) {
	t.Helper()
	got := fk.ipvs.String()
	if !strings.Contains(got, foreignText) || strings.Count(got, "10.0.0.99:80") != 2 {
		t.Errorf("foreign virtual server changed:\n%s", got)
	}
	if slices.Contains(fk.ipvs.Calls().Touched, k) {
		t.Errorf("foreign virtual server %s touched: %+v", k, fk.ipvs.Calls())
	}
	if strings.Contains(fk.members(), "10.0.0.99") {
		t.Errorf("foreign virtual server recorded in our ledger:\n%s", fk.members())
	}
	if slices.Contains(fk.dummyAddrs(), "10.0.0.99") {
		t.Errorf("address of a foreign virtual server added to %s", dummy)
	}
}

// 5. Foreign virtual servers are never touched.
func TestForeignVirtualServer(t *testing.T) {
	t.Run("left alone by every sync", func(t *testing.T) {
		fk := newFakeKernel()
		k := addForeign(t, fk)
		r := newTestReconciler(t, fk)
		src := webAndDNS()
		fk.resetCalls()
		mustFull(t, r, src)
		assertForeignIntact(t, fk, k)

		n := nsn("default/web")
		src.setSlices(n, epSlice("default/web-1", "web", "http", "", 8080, "10.244.9.9"))
		mustIncremental(t, r, src, n)
		assertForeignIntact(t, fk, k)

		src.del(n)
		mustIncremental(t, r, src, n)
		src.del(nsn("kube-system/dns"))
		mustFull(t, r, src)
		mustFull(t, newTestReconciler(t, fk), src)
		assertForeignIntact(t, fk, k)
		assertText(t, "only the foreign virtual server is left", fk.ipvs.String(), foreignText)
		if got := fk.members(); got != "" {
			t.Errorf("members left:\n%s", got)
		}
	})

	t.Run("conflicting Service", func(t *testing.T) {
		fk := newFakeKernel()
		k := addForeign(t, fk)
		r := newTestReconciler(t, fk)
		src := webAndDNS()
		clash := src.put(service("default/clash", "10.0.0.99", tcp("http", 80)),
			epSlice("default/clash-1", "clash", "http", "", 8080, "10.244.5.5"))
		fk.resetCalls()
		res := mustFull(t, r, src)
		want := "virtual server -t 10.0.0.99:80 already exists and was not created by ipvs-proxy; left alone"
		if got := problemsOf(res, clash.String()); got != want {
			t.Errorf("problems of %s = %q, want %q", clash, got, want)
		}
		if p := res.Problems[nsn("default/web")]; p != nil {
			t.Errorf("problems of web: %v", p)
		}
		assertForeignIntact(t, fk, k)
		// Everything else is programmed.
		assertText(t, "ipvsadm -Sn", fk.ipvs.String(), webAndDNSIPVS[:strings.Index(webAndDNSIPVS, "-A -t 10.96")]+foreignText+webAndDNSIPVS[strings.Index(webAndDNSIPVS, "-A -t 10.96"):])

		// A second sync, and a restarted one, change nothing.
		m := fk.resetCalls()
		res = mustFull(t, r, src)
		if got := problemsOf(res, clash.String()); got != want {
			t.Errorf("problems of %s on resync = %q", clash, got)
		}
		mustFull(t, newTestReconciler(t, fk), src)
		assertNoMutations(t, fk, m)

		// Incremental syncs of the conflicting Service leave it alone too.
		src.setSlices(clash, epSlice("default/clash-1", "clash", "http", "", 8080, "10.244.5.6"))
		res = mustIncremental(t, r, src, clash)
		if got := problemsOf(res, clash.String()); !strings.Contains(got, "already exists") {
			t.Errorf("incremental problems of %s = %q", clash, got)
		}
		assertForeignIntact(t, fk, k)
		src.del(clash)
		mustIncremental(t, r, src, clash)
		mustFull(t, r, src)
		assertForeignIntact(t, fk, k)
	})

	t.Run("appears between full syncs", func(t *testing.T) {
		fk := newFakeKernel()
		r := newTestReconciler(t, fk)
		src := webAndDNS()
		mustFull(t, r, src)
		k := addForeign(t, fk) // created after our last look at the kernel
		fk.resetCalls()
		clash := src.put(service("default/clash", "10.0.0.99", tcp("http", 80)),
			epSlice("default/clash-1", "clash", "http", "", 8080, "10.244.5.5"))
		// EEXIST is about that one object: reported, retried, and the sync succeeds.
		res := mustIncremental(t, r, src, clash)
		if len(res.Failed) != 1 || !errors.Is(res.Failed[0], errExist) {
			t.Errorf("Failed = %v, want one EEXIST", res.Failed)
		}
		if got := problemsOf(res, clash.String()); !strings.Contains(got, "file exists") {
			t.Errorf("problems of %s = %q", clash, got)
		}
		if !slices.Equal(res.Retry, []types.NamespacedName{clash}) {
			t.Errorf("Retry = %v, want [%s]", res.Retry, clash)
		}
		// Only its Add was attempted (and refused): no change, no ledger entry, no address.
		if got := fk.ipvs.String(); strings.Count(got, "10.0.0.99:80") != 2 || !strings.Contains(got, foreignText) {
			t.Errorf("foreign virtual server changed:\n%s", got)
		}
		if c := fk.ipvs.Calls(); c.AddVirtualServer != 1 || c.Mutations() != 1 {
			t.Errorf("ipvs calls = %+v", c)
		}
		if strings.Contains(fk.members(), "10.0.0.99") || slices.Contains(fk.dummyAddrs(), "10.0.0.99") {
			t.Errorf("foreign virtual server recorded as ours: members\n%saddresses %v", fk.members(), fk.dummyAddrs())
		}
		assertCacheTruthful(t, r)
		// The retry (a full sync) sees the conflict and keeps away from it.
		fk.resetCalls()
		res = mustFull(t, r, src)
		if got := problemsOf(res, clash.String()); !strings.Contains(got, "already exists and was not created by ipvs-proxy") {
			t.Errorf("problems of %s = %q", clash, got)
		}
		assertForeignIntact(t, fk, k)
		src.del(clash)
		mustFull(t, newTestReconciler(t, fk), src)
		assertForeignIntact(t, fk, k)
	})
}

// 6. Failed kernel calls: see apply_test.go.

// 7. Changes of settings are made in place: no virtual server is deleted,
// so no connection is dropped.
func TestChangeInPlace(t *testing.T) {
	t.Run("scheduler", func(t *testing.T) {
		fk := newFakeKernel()
		src := webAndDNS()
		mustFull(t, newTestReconciler(t, fk), src)
		m := fk.resetCalls()
		cfg := testConfig()
		cfg.Scheduler = "wrr"
		r := NewReconciler(fk.Kernel, cfg)
		mustFull(t, r, src)
		c := fk.ipvs.Calls()
		if c.UpdateVirtualServer != 3 || c.Mutations() != 3 {
			t.Errorf("ipvs calls = %+v, want 3 updates only", c)
		}
		if c := fk.sets.Calls(); c.Add != 0 || c.Del != 0 {
			t.Errorf("ipset calls = %+v", c)
		}
		if c := fk.links.Calls(); c.AddAddress != 0 || c.DelAddress != 0 {
			t.Errorf("netif calls = %+v", c)
		}
		if n := fk.rules.Applies() - m.applies; n != 0 {
			t.Errorf("%d rule applies", n)
		}
		assertText(t, "ipvsadm -Sn", fk.ipvs.String(), strings.ReplaceAll(webAndDNSIPVS, "-s rr", "-s wrr"))
	})
	t.Run("session affinity", func(t *testing.T) {
		fk := newFakeKernel()
		r := newTestReconciler(t, fk)
		src := webAndDNS()
		mustFull(t, r, src)
		n := nsn("default/web")
		svc, _ := src.Service(n)
		sticky := svc.expand()
		clientIP(600)(sticky)
		src.put(sticky)
		fk.resetCalls()
		mustIncremental(t, r, src, n)
		c := fk.ipvs.Calls()
		if c.UpdateVirtualServer != 2 || c.Mutations() != 2 {
			t.Errorf("ipvs calls = %+v, want 2 updates only", c)
		}
		want := strings.NewReplacer("-A -t 192.168.1.10:30080 -s rr", "-A -t 192.168.1.10:30080 -s rr -p 600",
			"-A -t 10.96.0.10:80 -s rr", "-A -t 10.96.0.10:80 -s rr -p 600").Replace(webAndDNSIPVS)
		assertText(t, "ipvsadm -Sn", fk.ipvs.String(), want)

		// And back.
		src.putSlim(svc)
		fk.resetCalls()
		mustIncremental(t, r, src, n)
		if c := fk.ipvs.Calls(); c.UpdateVirtualServer != 2 || c.Mutations() != 2 {
			t.Errorf("ipvs calls = %+v, want 2 updates only", c)
		}
		assertText(t, "ipvsadm -Sn", fk.ipvs.String(), webAndDNSIPVS)
		assertCacheTruthful(t, r)
	})
}

// failingSets fails the failAt-th Add (1-based) or Del of an ipset.Interface.
type failingSets struct {
	ipset.Interface
	mu           sync.Mutex
	adds         int
	failAddAt    int
	failDelMatch func(set string, e ipset.Entry) bool
}

func (f *failingSets) Add(name string, e ipset.Entry) error {
	f.mu.Lock()
	f.adds++
	fail := f.adds == f.failAddAt
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("ipset add %s %s: %w", name, e, errBoom)
	}
	return f.Interface.Add(name, e)
}

func (f *failingSets) Del(name string, e ipset.Entry) error {
	if f.failDelMatch != nil && f.failDelMatch(name, e) {
		return fmt.Errorf("ipset del %s %s: %w", name, e, errBoom)
	}
	return f.Interface.Del(name, e)
}

// 8. A sync that dies half way leaves state a fresh process recovers from:
// the reconciler that failed is dropped (as by a crash) and a new one runs.
func TestCrashMidApplyRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the kernel the failing reconciler uses; the fakes
		// under it are shared with the recovering one.
		setup func(fk *fakeKernel) Kernel
		// change, when set, runs a successful Full first and then changes src.
		change func(src *mapSource)
	}{
		{name: "AddAddress fails", setup: func(fk *fakeKernel) Kernel {
			fk.links.FailNext(netif.OpAddAddress, errBoom)
			return fk.Kernel
		}},
		{name: "second AddVirtualServer fails", setup: func(fk *fakeKernel) Kernel {
			n := 0
			fk.ipvs.Inject(func(op ipvs.Op, _ ipvs.Key) error {
				if op == ipvs.OpAddVirtualServer {
					if n++; n == 2 {
						return errBoom
					}
				}
				return nil
			})
			return fk.Kernel
		}},
		{name: "ledger Add fails half way", setup: func(fk *fakeKernel) Kernel {
			k := fk.Kernel
			k.Sets = &failingSets{Interface: fk.sets, failAddAt: 2} // dns's ClusterIP ledger entry
			return k
		}},
		{name: "DeleteVirtualServer fails", setup: func(fk *fakeKernel) Kernel {
			fk.ipvs.FailNext(ipvs.OpDeleteVirtualServer, errBoom)
			return fk.Kernel
		}, change: func(src *mapSource) { src.del(nsn("default/web")) }},
		{name: "DelAddress fails", setup: func(fk *fakeKernel) Kernel {
			fk.links.FailNext(netif.OpDelAddress, errBoom)
			return fk.Kernel
		}, change: func(src *mapSource) { src.del(nsn("default/web")) }},
		{name: "ledger Del fails", setup: func(fk *fakeKernel) Kernel {
			k := fk.Kernel
			k.Sets = &failingSets{Interface: fk.sets, failDelMatch: func(set string, _ ipset.Entry) bool {
				return set == "IPVS-PROXY-CLUSTER-IP"
			}}
			return k
		}, change: func(src *mapSource) { src.del(nsn("default/web")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKernel()
			src := webAndDNS()
			if tc.change != nil {
				mustFull(t, newTestReconciler(t, fk), src)
				tc.change(src)
			}
			a := NewReconciler(tc.setup(fk), testConfig())
			if _, err := a.Full(context.Background(), src); !errors.Is(err, errBoom) {
				t.Fatalf("Full err = %v, want boom", err)
			}
			assertCacheTruthful(t, a)
			fk.ipvs.Inject(nil)

			b := newTestReconciler(t, fk)
			mustFull(t, b, src)
			assertText(t, "kernel after recovery vs oracle", fk.dump(), oracle(t, src))
			m := fk.resetCalls()
			mustFull(t, newTestReconciler(t, fk), src)
			assertNoMutations(t, fk, m)
		})
	}
}

// Services with bad objects are reported and skipped; the others are programmed.
func TestProblemsDoNotBlockOthers(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	bad := src.put(service("default/bad", "10.96.0.77", tcp("http", 80)),
		epSlice("default/bad-1", "bad", "http", "", 8080, "not-an-ip", "10.244.7.7"))
	res := mustFull(t, r, src)
	if got := problemsOf(res, bad.String()); !strings.Contains(got, `endpoint address "not-an-ip" is not an IP address`) {
		t.Errorf("problems of bad = %q", got)
	}
	if !strings.Contains(fk.ipvs.String(), "-a -t 10.96.0.77:80 -r 10.244.7.7:8080 -m -w 1\n") ||
		!strings.Contains(fk.ipvs.String(), webAndDNSIPVS[:100]) {
		t.Errorf("ipvsadm -Sn:\n%s", fk.ipvs.String())
	}
}

var errExist = syscall.EEXIST

// IPv6: a node with an IPv6 address gets IPv6 rules (not IPv6 forwarding
// unless asked: see TestHostSettings), and an
// IPv6 Service's virtual servers are recorded in the IPVS-PROXY6- sets.
func TestDualStack(t *testing.T) {
	fk := newFakeKernel()
	fk.links.AddLink("eth0", "device", netip.MustParseAddr("2001:db8::10"))
	r := newTestReconciler(t, fk)
	src := newSource()
	v6 := service("default/v6", "fd00::10", port("http", "", 80, 30081))
	sl := epSlice("default/v6-1", "v6", "http", "", 8080, "fd00:244::1", "fd00:244::2")
	sl.AddressType = "IPv6"
	src.put(v6, sl)
	mustFull(t, r, src)

	assertText(t, "ipvsadm -Sn", fk.ipvs.String(), `-A -t [fd00::10]:80 -s rr
-a -t [fd00::10]:80 -r [fd00:244::1]:8080 -m -w 1
-a -t [fd00::10]:80 -r [fd00:244::2]:8080 -m -w 1
-A -t [2001:db8::10]:30081 -s rr
-a -t [2001:db8::10]:30081 -r [fd00:244::1]:8080 -m -w 1
-a -t [2001:db8::10]:30081 -r [fd00:244::2]:8080 -m -w 1
`) // libipvs order: fd00:: - 2001:db8:: is negative as an int32

	assertText(t, "members", fk.members(), `add IPVS-PROXY6-CLUSTER-IP fd00::10,tcp:80
add IPVS-PROXY6-HAIRPIN fd00:244::1,tcp:8080,fd00:244::1
add IPVS-PROXY6-HAIRPIN fd00:244::2,tcp:8080,fd00:244::2
add IPVS-PROXY6-IPS fd00::10
add IPVS-PROXY6-NODE-PORT 2001:db8::10,tcp:30081
`)
	if got := fk.dummyAddrs(); !slices.Equal(got, []string{"fd00::10"}) {
		t.Errorf("addresses = %v", got)
	}
	if got := fk.sysctls.Sets(); slices.Contains(got, "net/ipv6/conf/all/forwarding=1") {
		t.Errorf("IPv6 forwarding enabled without ipv6Forwarding (kube-proxy leaves it to the CNI): %v", got)
	}
	if got, _ := fk.rules.Dump(rules.IPv6); !strings.Contains(got.String(), "--match-set IPVS-PROXY6-NODE-PORT dst,dst") {
		t.Errorf("IPv6 rules:\n%s", got)
	}
	m := fk.resetCalls()
	mustFull(t, newTestReconciler(t, fk), src)
	assertNoMutations(t, fk, m)
}

// A hairpin member shared by two Services (one pod behind both) stays until
// the last of them goes; a port change replaces the virtual server.
func TestSharedMembersAndPortChange(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := newSource()
	a := src.put(service("default/a", "10.96.0.1", tcp("http", 80)), epSlice("default/a-1", "a", "http", "", 8080, "10.244.1.1"))
	b := src.put(service("default/b", "10.96.0.2", tcp("http", 80)), epSlice("default/b-1", "b", "http", "", 8080, "10.244.1.1"))
	mustFull(t, r, src)
	const hairpin = "add IPVS-PROXY-HAIRPIN 10.244.1.1,tcp:8080,10.244.1.1\n"
	src.del(a)
	mustIncremental(t, r, src, a)
	if !strings.Contains(fk.members(), hairpin) {
		t.Errorf("shared hairpin member removed with one of its Services:\n%s", fk.members())
	}
	svc, _ := src.Service(b)
	moved := svc.expand()
	moved.Spec.Ports[0].Port = 81
	src.put(moved)
	fk.resetCalls()
	mustIncremental(t, r, src, b)
	assertText(t, "ipvsadm -Sn", fk.ipvs.String(), "-A -t 10.96.0.2:81 -s rr\n-a -t 10.96.0.2:81 -r 10.244.1.1:8080 -m -w 1\n")
	if c := fk.links.Calls(); c.AddAddress != 0 || c.DelAddress != 0 {
		t.Errorf("address churned by a port change: %+v", c)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, src))
	src.del(b)
	mustIncremental(t, r, src, b)
	if got := fk.members(); got != "" {
		t.Errorf("members left:\n%s", got)
	}
	fk.resetCalls()
	assertCacheTruthful(t, r)
}

// A full sync dumps each of our sets once and creates only the missing ones.
func TestFullListsEachSetOnce(t *testing.T) {
	fk := newFakeKernel()
	src := webAndDNS()
	r := newTestReconciler(t, fk)
	mustFull(t, r, src)
	sets := len(desired.AllSets())
	if c := fk.sets.Calls(); c.List != sets || c.Create != sets {
		t.Errorf("first full sync: %d lists, %d creates; want %d and %d", c.List, c.Create, sets, sets)
	}
	fk.sets.ResetCalls()
	mustFull(t, r, src)
	if c := fk.sets.Calls(); c.List != sets || c.Create != 0 || c.Ensure != 0 {
		t.Errorf("second full sync: %d lists, %d creates, %d ensures; want %d, 0, 0", c.List, c.Create, c.Ensure, sets)
	}
}

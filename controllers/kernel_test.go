//go:build linux

package controllers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// kernelInNetns moves the calling goroutine's thread into a fresh network
// namespace (restored at cleanup) with a node link eth0 (192.168.1.10) and
// routes for the real servers, and opens the real IPVS, ipset and link
// adapters there; rules and sysctls stay fakes. It skips unless root on a
// kernel with IPVS (run it in hack/sandbox).
func kernelInNetns(t testing.TB) (Kernel, *ipvs.Kernel, *ipset.Kernel) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root (run the test binary in hack/sandbox)")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if out, err := exec.Command("modprobe", "ip_vs").CombinedOutput(); err != nil {
			t.Skipf("kernel test: no IPVS: %v: %s", err, out)
		}
	}
	netnstest.Fresh(t)
	for _, argv := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "eth0", "type", "dummy"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "addr", "add", "192.168.1.10/24", "dev", "eth0"},
		{"ip", "link", "add", "rs0", "type", "dummy"},
		{"ip", "link", "set", "rs0", "up"},
		{"ip", "route", "add", "10.244.0.0/16", "dev", "rs0"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	iv, err := ipvs.New()
	if err != nil {
		t.Skipf("kernel test: %v", err)
	}
	t.Cleanup(func() { _ = iv.Close() })
	is, err := ipset.New()
	if err != nil {
		t.Skipf("kernel test: %v", err)
	}
	t.Cleanup(is.Close)
	nl, err := netif.New()
	if err != nil {
		t.Skipf("kernel test: %v", err)
	}
	t.Cleanup(nl.Close)
	return Kernel{IPVS: iv, Sets: is, Links: nl, Rules: rules.NewFake(), Sysctls: sysctl.NewFake(map[string]string{
		"net.ipv4.vs.conntrack": "0", "net.ipv4.vs.expire_nodest_conn": "0",
		"net.ipv4.vs.expire_quiescent_template": "0", "net.ipv4.ip_forward": "0",
	})}, iv, is
}

// On the real kernel: a flushed or destroyed ledger set is repaired by one
// full sync without a single IPVS write (the virtual servers, and their
// connections, stay), and the ledger reads back as before.
func TestKernelLedgerRepair(t *testing.T) {
	k, iv, is := kernelInNetns(t)
	r := NewReconciler(k, testConfig())
	src := webAndDNS()
	ctx := context.Background()
	if _, err := r.Full(ctx, src); err != nil {
		t.Fatalf("Full: %v", err)
	}
	dump := func() string {
		svcs, err := iv.Dump()
		if err != nil {
			t.Fatal(err)
		}
		return ipvs.Format(svcs)
	}
	before := dump()
	assertText(t, "ipvsadm -Sn", before, webAndDNSIPVS)
	members, err := is.List(ledger.ClusterIPSet4)
	if err != nil {
		t.Fatal(err)
	}
	// Flush the ClusterIP set, destroy the NodePort set (no rule references
	// it here: rules are a fake).
	for _, e := range members {
		if err := is.Del(ledger.ClusterIPSet4, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := is.Destroy(ledger.NodePortSet4); err != nil {
		t.Fatal(err)
	}
	// Count IPVS writes from here on.
	counted := &writeCountingIPVS{Interface: iv}
	r.k.IPVS = counted
	res, err := r.Full(ctx, src)
	if err != nil {
		t.Fatalf("repairing Full: %v", err)
	}
	if res.Repaired != 3 {
		t.Errorf("Repaired = %d, want 3", res.Repaired)
	}
	if counted.writes != 0 {
		t.Errorf("%d IPVS writes during the repair, want 0", counted.writes)
	}
	assertText(t, "ipvsadm -Sn after repair", dump(), before)
	after, err := is.List(ledger.ClusterIPSet4)
	if err != nil || len(after) != len(members) {
		t.Errorf("ClusterIP set after repair: %v, %v; want %v", after, err, members)
	}
	if np, err := is.List(ledger.NodePortSet4); err != nil || len(np) != 1 {
		t.Errorf("NodePort set after repair: %v, %v", np, err)
	}
	if res, err := r.Full(ctx, src); err != nil || !res.Plan.Empty() || res.Repaired != 0 {
		t.Errorf("second Full: err %v, repaired %d, plan:\n%s", err, res.Repaired, res.Plan)
	}
}

// writeCountingIPVS counts the mutating calls made through it.
type writeCountingIPVS struct {
	ipvs.Interface
	writes int
}

func (c *writeCountingIPVS) AddVirtualServer(v ipvs.VirtualServer) error {
	c.writes++
	return c.Interface.AddVirtualServer(v)
}

func (c *writeCountingIPVS) UpdateVirtualServer(v ipvs.VirtualServer) error {
	c.writes++
	return c.Interface.UpdateVirtualServer(v)
}

func (c *writeCountingIPVS) DeleteVirtualServer(k ipvs.Key) error {
	c.writes++
	return c.Interface.DeleteVirtualServer(k)
}

func (c *writeCountingIPVS) AddRealServer(k ipvs.Key, rs ipvs.RealServer) error {
	c.writes++
	return c.Interface.AddRealServer(k, rs)
}

func (c *writeCountingIPVS) UpdateRealServer(k ipvs.Key, rs ipvs.RealServer) error {
	c.writes++
	return c.Interface.UpdateRealServer(k, rs)
}

func (c *writeCountingIPVS) DeleteRealServer(k ipvs.Key, r ipvs.RealServerKey) error {
	c.writes++
	return c.Interface.DeleteRealServer(k, r)
}

// The random changes of TestReconcilerProperty on the real kernel: IPVS,
// ipset, the dummy link and iptables (the nft backend, from this thread's
// namespace) are the real adapters; only the sysctls are a fake. After
// every full or incremental sync (and after ledger flushes behind our back)
// the kernel equals the oracle and the cache equals the kernel
// (stepwiseProperty). KERNEL_PROPERTY_SEEDS=N runs N seeds (default 2,
// 8 steps each: about a minute a seed under TCG on a loaded host).
func TestKernelReconcilerProperty(t *testing.T) {
	seeds := uint64(2)
	if n, err := strconv.ParseUint(os.Getenv("KERNEL_PROPERTY_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			k, _, _ := kernelInNetns(t)
			rk, err := rules.New(rules.Config{})
			if err != nil {
				t.Skipf("kernel test: %v", err)
			}
			k.Rules = rk
			stepwiseProperty(t, seed, 8, k)
		})
	}
}

// On the real kernel: a cold sync with more address adds than asyncAddrMin
// binds its ClusterIPs in runs sent without waiting (batch.go sendAsync),
// beside the IPVS work. The kernel then equals the fakes' oracle, the cache
// equals the kernel, and a second full sync has nothing to do; deleting
// half the Services (their addresses removed in turn, after the runs)
// leaves the kernel equal to the oracle again.
func TestKernelColdSyncAsyncAddresses(t *testing.T) {
	k, _, _ := kernelInNetns(t)
	const services = 100 // 100 ClusterIPs: more than asyncAddrMin (64)
	if services <= asyncAddrMin {
		t.Fatalf("%d Services do not reach asyncAddrMin %d", services, asyncAddrMin)
	}
	if _, ok := k.Links.(netif.Batcher); !ok {
		t.Fatalf("%T is no netif.Batcher: address runs would be sent one by one", k.Links)
	}
	src := benchSource(services)
	r := NewReconciler(k, testConfig())
	ctx := context.Background()
	res, err := r.Full(ctx, src)
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("cold Full: err %v, failed %v", err, res.Failed)
	}
	if n := len(res.Plan.AddAddresses); n <= asyncAddrMin {
		t.Fatalf("cold plan adds %d addresses, want more than %d (async runs)", n, asyncAddrMin)
	}
	assertText(t, "after the cold sync: kernel vs oracle", kernelText(t, k, false), oracleText(t, src, false))
	assertCacheTruthful(t, r)
	if res, err := r.Full(ctx, src); err != nil || !res.Plan.Empty() {
		t.Fatalf("second Full: err %v, plan:\n%s", err, res.Plan)
	}
	for i := 0; i < services; i += 2 {
		src.del(nsn(fmt.Sprintf("default/svc-%d", i)))
	}
	if res, err := r.Full(ctx, src); err != nil || len(res.Failed) > 0 {
		t.Fatalf("Full after deleting half: err %v, failed %v", err, res.Failed)
	}
	assertText(t, "after deleting half: kernel vs oracle", kernelText(t, k, false), oracleText(t, src, false))
	assertCacheTruthful(t, r)
}

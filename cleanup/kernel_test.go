//go:build linux

package cleanup

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// TestKernelCleanup runs both cleanups on a real kernel (the sandbox VM), in
// a fresh network namespace holding ipvs-proxy's objects, kube-proxy's
// leftovers and a foreign virtual server; it skips unless root with IPVS.
func TestKernelCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if out, err := exec.Command("modprobe", "ip_vs").CombinedOutput(); err != nil {
			t.Skipf("kernel test: no IPVS: %v: %s", err, out)
		}
	}
	ns := netnstest.Named(t, "cleanup")
	sh := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var k Kernel
	netnstest.Run(t, ns, func() {
		iv, err := ipvs.New()
		must(t, err)
		t.Cleanup(func() { _ = iv.Close() })
		sets, err := ipset.New()
		must(t, err)
		t.Cleanup(sets.Close)
		links, err := netif.New()
		must(t, err)
		t.Cleanup(links.Close)
		rl, err := rules.New(rules.Config{Prefix: []string{"ip", "netns", "exec", ns}})
		must(t, err)
		k = Kernel{IPVS: iv, Sets: sets, Links: links, Rules: rl, Chains: rl}
	})

	// ipvs-proxy's objects: ledger, virtual server, address, rules.
	for _, s := range desired.AllSets() {
		must(t, k.Sets.Ensure(s))
	}
	must(t, k.Links.EnsureDummy("kube-ipvs0"))
	ours := key(ipvs.TCP, "10.96.0.10:80")
	for _, m := range ledger.Members(ours) {
		must(t, k.Sets.Add(m.Set, m.Entry))
	}
	must(t, k.Links.AddAddress("kube-ipvs0", ours.Address))
	must(t, k.IPVS.AddVirtualServer(ipvs.VirtualServer{Key: ours, Scheduler: "rr"}))
	cfg := v1alpha1.Defaults()
	cfg.NodeName = "n"
	for _, rs := range desired.Rules(cfg, []netip.Addr{netip.MustParseAddr("192.168.1.10")}) {
		must(t, k.Rules.Apply(rs))
	}
	// kube-proxy's leftovers, and a foreign virtual server elsewhere.
	kp := key(ipvs.UDP, "10.96.0.20:53")
	must(t, k.Links.AddAddress("kube-ipvs0", kp.Address))
	must(t, k.IPVS.AddVirtualServer(ipvs.VirtualServer{Key: kp, Scheduler: "rr"}))
	foreign := key(ipvs.TCP, "172.16.0.1:80")
	must(t, k.IPVS.AddVirtualServer(ipvs.VirtualServer{Key: foreign, Scheduler: "rr"}))
	sh("ipset", "create", "KUBE-CLUSTER-IP", "hash:ip,port")
	sh("ipset", "create", "KUBE-NODE-PORT-TCP", "bitmap:port", "range", "0-65535")
	sh("iptables", "-t", "nat", "-N", "KUBE-SERVICES")
	sh("iptables", "-t", "nat", "-N", "KUBE-MARK-MASQ")
	sh("iptables", "-t", "nat", "-A", "KUBE-SERVICES", "-m", "set", "--match-set", "KUBE-CLUSTER-IP", "dst,dst", "-j", "KUBE-MARK-MASQ")
	sh("iptables", "-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
	sh("iptables", "-t", "nat", "-N", "KUBE-KUBELET-CANARY") // kubelet's: stays

	run := func(kubeProxy bool) Plan {
		t.Helper()
		o, err := Observe(k, "kube-ipvs0", kubeProxy)
		must(t, err)
		p := Ours(o)
		if kubeProxy {
			p = KubeProxy(o)
		}
		t.Logf("plan (kubeProxy=%v):\n%s", kubeProxy, p)
		must(t, Execute(k, p))
		return p
	}

	run(false)
	ipvsadm := sh("ipvsadm", "-Sn")
	if strings.Contains(ipvsadm, "10.96.0.10") || !strings.Contains(ipvsadm, "10.96.0.20:53") || !strings.Contains(ipvsadm, "172.16.0.1:80") {
		t.Errorf("after cleanup, IPVS:\n%s", ipvsadm)
	}
	nat := sh("iptables-save", "-t", "nat")
	if strings.Contains(nat, "IPVS-PROXY") || !strings.Contains(nat, "KUBE-SERVICES") {
		t.Errorf("after cleanup, nat:\n%s", nat)
	}
	if sets := sh("ipset", "list", "-n"); strings.Contains(sets, "IPVS-PROXY") || !strings.Contains(sets, "KUBE-CLUSTER-IP") {
		t.Errorf("after cleanup, sets:\n%s", sets)
	}
	if addrs := sh("ip", "-o", "addr", "show", "kube-ipvs0"); strings.Contains(addrs, "10.96.0.10/") || !strings.Contains(addrs, "10.96.0.20/") {
		t.Errorf("after cleanup, kube-ipvs0:\n%s", addrs)
	}

	run(true)
	if got := sh("ipvsadm", "-Sn"); strings.TrimSpace(got) != "-A -t 172.16.0.1:80 -s rr" {
		t.Errorf("after cleanup --kube-proxy, IPVS:\n%s", got)
	}
	nat = sh("iptables-save", "-t", "nat")
	if strings.Contains(nat, "KUBE-SERVICES") || strings.Contains(nat, "KUBE-MARK-MASQ") || !strings.Contains(nat, "KUBE-KUBELET-CANARY") {
		t.Errorf("after cleanup --kube-proxy, nat:\n%s", nat)
	}
	if sets := strings.TrimSpace(sh("ipset", "list", "-n")); sets != "" {
		t.Errorf("after cleanup --kube-proxy, sets: %q", sets)
	}
	if addrs := sh("ip", "-o", "addr", "show", "kube-ipvs0"); strings.Contains(addrs, "10.96.0.20/") {
		t.Errorf("after cleanup --kube-proxy, kube-ipvs0:\n%s", addrs)
	}
	for _, kubeProxy := range []bool{false, true} {
		if p := run(kubeProxy); !p.Empty() {
			t.Errorf("second run (kubeProxy=%v) plans:\n%s", kubeProxy, p)
		}
	}
}

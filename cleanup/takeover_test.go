package cleanup

import (
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
)

// A takeover removes kube-proxy's leftovers, but of the foreign virtual
// servers only those kube-proxy owned: the ones on the dummy link (recorded
// in its KUBE-CLUSTER-IP or not: its records lag); the NodePort
// 192.168.1.10:30053 only while its NodePort set of that protocol exists;
// one on no node address (172.16.0.1) stays, and so does ours.
func TestTakeOverRemovesOnlyKubeProxys(t *testing.T) {
	tk := newTestKernel(t)
	must(t, tk.ipvs.AddVirtualServer(ipvs.VirtualServer{Key: key(ipvs.TCP, "10.96.0.20:8080"), Scheduler: "rr"}))
	recorded := map[string][]ipset.Entry{"KUBE-CLUSTER-IP": {{IP: key(ipvs.UDP, "10.96.0.20:53").Address, Protocol: "udp", Port: 53}}}
	kp := ledger.ReadKubeProxy(recorded, nil)
	o, err := Observe(tk.Kernel, "kube-ipvs0", true)
	must(t, err)
	p := TakeOver(o, kp)
	want := `# IPVS virtual servers (with their real servers)
ipvsadm -D -t 10.96.0.20:8080
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
	kp = ledger.ReadKubeProxy(recorded, []string{"KUBE-NODE-PORT-TCP"})
	p = TakeOver(o, kp)
	if len(p.VirtualServers) != 3 || !slices.Contains(p.VirtualServers, key(ipvs.TCP, "192.168.1.10:30053")) {
		t.Errorf("with KUBE-NODE-PORT-TCP, virtual servers removed: %v; want the NodePort and the two on the dummy link", p.VirtualServers)
	}
	must(t, Execute(tk.Kernel, p))
	if got, want := tk.ipvs.String(), "-A -t 172.16.0.1:80 -s rr\n-A -t 192.168.1.10:30080 -s rr\n-A -t 10.96.0.10:80 -s rr\n"; got != want {
		t.Errorf("IPVS after takeover cleanup:\n%s\nwant:\n%s", got, want)
	}
}

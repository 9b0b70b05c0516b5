package desired

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

func TestSetNames(t *testing.T) {
	if got := Sets(addr("10.0.0.1")); got.ClusterIP != C4 || got.NodePort != N4 || got.Hairpin != H4 || got.ExternalIP != "IPVS-PROXY-EXTERNAL-IP" {
		t.Errorf("Sets(v4) = %v", got)
	}
	if got := Sets(addr("fd00::1")); got.ClusterIP != C6 || got.NodePort != N6 || got.Hairpin != H6 || got.VIPs != "IPVS-PROXY6-IPS" {
		t.Errorf("Sets(v6) = %v", got)
	}
	if SetsOf(rules.IPv4) != Sets(addr("10.0.0.1")) || SetsOf(rules.IPv6) != Sets(addr("fd00::1")) {
		t.Errorf("SetsOf disagrees with Sets")
	}
	all := AllSets()
	if len(all) != 26 {
		t.Fatalf("AllSets() = %v", all)
	}
	for _, s := range all {
		if len(s.Name) > 31 {
			t.Errorf("set name %q longer than 31 bytes", s.Name)
		}
	}
	if all[0].Name != C4 || all[2].Name != H4 || all[13].Name != C6 {
		t.Errorf("AllSets order: %v", all)
	}
}

// The ledger's set names are the ones desired plans members into.
func TestLedgerSetNames(t *testing.T) {
	for _, a := range []string{"10.96.0.10", "fd00::10"} {
		n, l := Sets(addr(a)), ledger.SetsFor(addr(a))
		if n.ClusterIP != l.ClusterIP || n.NodePort != l.NodePort || n.ExternalIP != l.ExternalIP || n.LoadBalancer != l.LoadBalancer {
			t.Errorf("%s: desired %+v, ledger %+v", a, n, l)
		}
	}
}

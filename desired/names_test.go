package desired

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
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

func TestOwnershipFrom(t *testing.T) {
	st := want{mems: []string{
		C4 + " 10.96.0.10,tcp:80",
		C4 + " 10.96.0.10,udp:53",
		N4 + " 192.168.1.10,tcp:30080",
		H4 + " 10.244.1.5,tcp:8080,10.244.1.5",
		C6 + " fd00::10,sctp:9999",
		N6 + " fd00:1::10,tcp:30080",
		H6 + " fd00:244::5,tcp:8080,fd00:244::5",
		"SOMEONE-ELSES-SET 10.96.0.99,tcp:80",
		C4 + " 10.96.0.98,icmp:0", // unknown protocol: ignored
	}}.state()
	o := OwnershipFrom(st.Members)

	owned := []string{"tcp 10.96.0.10:80", "udp 10.96.0.10:53", "tcp 192.168.1.10:30080", "sctp [fd00::10]:9999", "tcp [fd00:1::10]:30080"}
	for _, k := range owned {
		if !o.OwnsService(key(k)) {
			t.Errorf("OwnsService(%s) = false", k)
		}
	}
	notOwned := []string{
		"tcp 10.244.1.5:8080", "tcp [fd00:244::5]:8080", // hairpin members imply nothing
		"tcp 10.96.0.99:80",   // foreign set
		"tcp 10.96.0.10:81",   // other port
		"udp 10.96.0.10:80",   // other protocol
		"tcp 192.168.1.10:80", // other port on a node address
	}
	for _, k := range notOwned {
		if o.OwnsService(key(k)) {
			t.Errorf("OwnsService(%s) = true", k)
		}
	}
	for _, a := range []string{"10.96.0.10", "fd00::10"} {
		if !o.OwnsAddress(addr(a)) {
			t.Errorf("OwnsAddress(%s) = false", a)
		}
	}
	// NODE-PORT and HAIRPIN members imply no address.
	for _, a := range []string{"192.168.1.10", "fd00:1::10", "10.244.1.5", "fd00:244::5", "10.96.0.99", "10.96.0.98"} {
		if o.OwnsAddress(addr(a)) {
			t.Errorf("OwnsAddress(%s) = true", a)
		}
	}

	empty := OwnershipFrom(nil)
	if empty.OwnsService(key("tcp 10.96.0.10:80")) || empty.OwnsAddress(addr("10.96.0.10")) {
		t.Error("empty ownership owns something")
	}
}

func TestLedgerMembers(t *testing.T) {
	k := key("udp 10.96.0.10:53")
	got := LedgerMembers(k)
	if len(got) != 4 || got[0].Set != C4 || got[1].Set != N4 || got[2].Set != "IPVS-PROXY-EXTERNAL-IP" || got[3].Set != "IPVS-PROXY-LOAD-BALANCER" ||
		got[0].Entry.String() != "10.96.0.10,udp:53" || got[1].Entry != got[0].Entry || got[3].Entry != got[0].Entry {
		t.Errorf("LedgerMembers(%v) = %v", k, got)
	}
	k6 := ipvs.Key{Protocol: ipvs.TCP, Address: addr("fd00::10"), Port: 80}
	got = LedgerMembers(k6)
	if got[0].Set != C6 || got[1].Set != N6 || got[0].Entry.String() != "fd00::10,tcp:80" {
		t.Errorf("LedgerMembers(%v) = %v", k6, got)
	}
	// The ledger members of every virtual server ForService plans are
	// exactly what OwnershipFrom reads back.
	st := want{mems: []string{C4 + " 10.96.0.10,udp:53"}}.state()
	if !OwnershipFrom(st.Members).OwnsService(k) {
		t.Error("round trip failed")
	}
	var _ state.Member = got[0]
}

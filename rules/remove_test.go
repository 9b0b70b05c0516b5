package rules

import (
	"strings"
	"testing"
)

// Removing kube-proxy's chains deletes them and the jumps into them, and
// touches nothing else (KUBE-FIREWALL is kubelet's, IPVS-PROXY-* ours).
func TestRemoveChains(t *testing.T) {
	save := `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:IPVS-PROXY-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m comment --comment "ipvs-proxy service portals" -j IPVS-PROXY-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
COMMIT
`
	tables, err := parseSave(save)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(removeChains(tables["nat"], []string{"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-NODE-PORT"}), "\n")
	want := `-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-D OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-D POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
-X KUBE-SERVICES
-X KUBE-POSTROUTING
-X KUBE-MARK-MASQ`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := removeChains(tables["nat"], []string{"KUBE-NODE-PORT"}); got != nil {
		t.Errorf("absent chain: %q", got)
	}
}

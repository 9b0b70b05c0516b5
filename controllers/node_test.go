package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// The Node reaches the desired state through SetNode at full syncs: its
// podCIDRs for detectLocalMode NodeCIDR and its IPs for nodePortAddresses
// "primary"; and an IPv6 cluster IP on an IPv4-only node brings IPv6 rules
// and sysctls (families follow every address in use).
func TestFullUsesNodeAndFamiliesInUse(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.DetectLocalMode = v1alpha1.DetectLocalNodeCIDR
	cfg.NodePortAddresses = []string{v1alpha1.NodePortAddressesPrimary}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := NewReconciler(fk.Kernel, cfg)
	r.SetNode(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}}},
	})
	src := newSource()
	src.put(service("default/v6", "fd00::10", tcp("http", 80)))
	src.put(service("default/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080)))
	if _, err := r.Full(context.Background(), src); err != nil {
		t.Fatalf("Full: %v", err)
	}
	v4, _ := fk.rules.Dump(rules.IPv4)
	if s := v4.String(); !strings.Contains(s, "! -s 10.244.1.0/24 ") || strings.Contains(s, "10.244.0.0/16") {
		t.Errorf("IPv4 rules do not detect pods by the Node's podCIDR:\n%s", s)
	}
	v6, _ := fk.rules.Dump(rules.IPv6)
	if s := v6.String(); !strings.Contains(s, "--match-set IPVS-PROXY6-CLUSTER-IP src,dst") {
		t.Errorf("IPv6 rules missing or without the src,dst fallback (no IPv6 podCIDR):\n%s", s)
	}
	if slices.Contains(fk.sysctls.Sets(), "net/ipv6/conf/all/forwarding=1") {
		t.Errorf("IPv6 forwarding set without ipv6Forwarding (kube-proxy leaves it to the CNI): %v", fk.sysctls.Sets())
	}
	if !strings.Contains(fk.ipvs.String(), "-A -t 192.168.1.10:30080") {
		t.Errorf("primary node IP has no NodePort:\n%s", fk.ipvs.String())
	}
}

// The first IPv6 cluster IP arriving in an incremental sync brings the IPv6
// rules at once, not at the next full sync.
func TestIncrementalFirstIPv6ClusterIP(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := newSource()
	src.put(service("default/web", "10.96.0.10", tcp("http", 80)))
	mustFull(t, r, src)
	if got6, _ := fk.rules.Dump(rules.IPv6); len(got6.Tables) != 0 {
		t.Fatalf("IPv6 rules before any IPv6 address: %s", got6)
	}
	n := src.put(service("default/v6", "fd00::10", tcp("http", 80)))
	mustIncremental(t, r, src, n)
	if got6, _ := fk.rules.Dump(rules.IPv6); !strings.Contains(got6.String(), "IPVS-PROXY6-CLUSTER-IP") {
		t.Errorf("IPv6 rules not installed by the incremental sync:\n%s", got6)
	}

	calls := len(fk.rules.Calls())
	mustIncremental(t, r, src, n)
	if got := len(fk.rules.Calls()); got != calls {
		t.Errorf("a second incremental sync touched the rules again (%d calls, was %d)", got, calls)
	}
}

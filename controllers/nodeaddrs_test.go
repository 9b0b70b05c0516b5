package controllers

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// External and LB IPs that are node addresses outside nodePortAddresses are
// not bound on the dummy link (kube-proxy's nodeAddressSet is every local
// address); when local addresses come or go, a refresh recomputes only the
// Services holding one of them, and binds or unbinds it.
func TestLocalAddressesOutsideNodePortAddresses(t *testing.T) {
	fk := newFakeKernel()
	fk.links.AddLink("eth1", "device", netip.MustParseAddr("192.168.80.2"))
	cfg := testConfig()
	cfg.NodePortAddresses = []string{"192.168.1.0/24"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := NewReconciler(fk.Kernel, cfg)
	src := newSource()
	ext := src.put(service("default/ext", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080),
		func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalIPs = []string{"192.168.80.2"}
		}))
	lb := src.put(service("default/lb", "10.96.0.11", tcp("http", 80), func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.80.3"}}
	}))
	src.put(service("default/plain", "10.96.0.12", tcp("http", 80)))
	mustFull(t, r, src)

	check := func(when string, bound, unbound []string) {
		t.Helper()
		got := fk.dummyAddrs()
		for _, a := range bound {
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, a+"/") || s == a }) {
				t.Errorf("%s: %s not on the dummy link: %v", when, a, got)
			}
		}
		for _, a := range unbound {
			if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, a+"/") || s == a }) {
				t.Errorf("%s: node address %s bound on the dummy link: %v", when, a, got)
			}
			if m := fk.members(); strings.Contains(m, "IPVS-PROXY-IPS "+a+"\n") {
				t.Errorf("%s: node address %s in the VIPs set:\n%s", when, a, m)
			}
		}
		ipvs := fk.ipvs.String()
		for _, vs := range []string{"-A -t 192.168.80.2:80", "-A -t 192.168.80.3:80", "-A -t 192.168.1.10:30080"} {
			if !strings.Contains(ipvs, vs) {
				t.Errorf("%s: virtual server %s missing:\n%s", when, vs, ipvs)
			}
		}
		if strings.Contains(ipvs, "192.168.80.2:30080") {
			t.Errorf("%s: a NodePort outside nodePortAddresses:\n%s", when, ipvs)
		}
	}
	check("after Full", []string{"10.96.0.10", "10.96.0.11", "192.168.80.3"}, []string{"192.168.80.2"})

	refresh := func(want types.NamespacedName) {
		t.Helper()
		res, err := r.Refresh(context.Background(), src, nil)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		var got []types.NamespacedName
		for n := range res.Problems {
			got = append(got, n)
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("Refresh recomputed %v, want only %v", got, want)
		}
	}
	if err := fk.links.AddAddress("eth1", netip.MustParseAddr("192.168.80.3")); err != nil {
		t.Fatal(err)
	}
	refresh(lb)
	check("after the LB IP became a node address", []string{"10.96.0.10", "10.96.0.11"}, []string{"192.168.80.2", "192.168.80.3"})

	if err := fk.links.DelAddress("eth1", netip.MustParseAddr("192.168.80.2")); err != nil {
		t.Fatal(err)
	}
	refresh(ext)
	check("after the external IP left the node", []string{"10.96.0.10", "10.96.0.11", "192.168.80.2"}, []string{"192.168.80.3"})
}

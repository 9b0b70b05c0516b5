package controllers

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// onLoopback listens on 127.0.0.1 port 0 whatever address and port the
// Manager asks for, and records what it asked.
type onLoopback struct{ asked []netip.AddrPort }

func (l *onLoopback) listen(a netip.AddrPort) (net.Listener, error) {
	l.asked = append(l.asked, a)
	return net.Listen("tcp", "127.0.0.1:0")
}

func hcGet(t *testing.T, a net.Addr) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A LoadBalancer Service with externalTrafficPolicy Local gets a health-check
// server on its healthCheckNodePort at the node's addresses, answering 200
// with this node's ready endpoints and 503 without; it follows incremental
// syncs and goes away with the Service. Its port is in the HEALTH-CHECK set.
func TestControllerHealthChecks(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	rec := NewReconciler(fk.Kernel, cfg)
	ctrl := NewController(nil, rec, cfg, nil)
	src := newSource()
	ctrl.src = src
	lb := &onLoopback{}
	m := healthcheck.NewManager(lb.listen, func() bool { return ctrl.Status().Healthy(cfg.SyncPeriod) })
	defer m.Close()
	ctrl.EnableHealthChecks(m)

	svc := service("default/web", "10.96.0.10", port("http", "", 80, 30080), func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = 32000
	})
	sl := epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2")
	nodeA, nodeB := "node-a", "node-b"
	sl.Endpoints[0].NodeName, sl.Endpoints[1].NodeName = &nodeA, &nodeB
	n := src.put(svc, sl)
	ctx := context.Background()
	if err := ctrl.sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	bound := m.Bound(n)
	if len(bound) != 1 || len(lb.asked) != 1 || lb.asked[0].String() != "192.168.1.10:32000" {
		t.Fatalf("bound %v, asked %v; want one listener for 192.168.1.10:32000", bound, lb.asked)
	}
	if code, body := hcGet(t, bound[0]); code != 200 || !strings.Contains(body, `"localEndpoints": 1`) {
		t.Errorf("with a local endpoint: %d %s", code, body)
	}
	if !strings.Contains(fk.members(), "add IPVS-PROXY-HEALTH-CHECK 192.168.1.10,tcp:32000\n") {
		t.Errorf("health check port not in the HEALTH-CHECK set:\n%s", fk.members())
	}

	// The local endpoint goes: an incremental sync turns the answer to 503.
	sl2 := epSlice("default/web-1", "web", "http", "", 8080, "10.244.2.2")
	sl2.Endpoints[0].NodeName = &nodeB
	src.setSlices(n, sl2)
	ctrl.pending[n] = struct{}{}
	if err := ctrl.sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if code, body := hcGet(t, bound[0]); code != 503 || !strings.Contains(body, `"localEndpoints": 0`) {
		t.Errorf("without a local endpoint: %d %s", code, body)
	}

	// The Service goes: the server closes.
	src.del(n)
	ctrl.pending[n] = struct{}{}
	if err := ctrl.sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if m.Bound(n) != nil {
		t.Error("health check still bound after the Service was deleted")
	}
	if _, err := net.Dial("tcp", bound[0].String()); err == nil {
		t.Error("the old listener still accepts connections")
	}
}

// Item 14: a full sync finds our jumps buried under someone else's rule (a
// firewall inserted at the top of INPUT) and puts them first again.
func TestFullSyncKeepsJumpsFirst(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := webAndDNS()
	mustFull(t, r, src)
	mark := fk.rules.Applies()
	mustFull(t, r, src)
	if fk.rules.Applies() != mark {
		t.Fatalf("an unchanged full sync applied rules")
	}
	fk.rules.Bury(rules.IPv4, "filter", "INPUT")
	mustFull(t, r, src)
	if fk.rules.Applies() != mark+1 {
		t.Errorf("buried jumps: %d Apply calls, want 1", fk.rules.Applies()-mark)
	}
	got, _ := fk.rules.Dump(rules.IPv4)
	for _, tb := range got.Tables {
		if len(tb.Buried) > 0 {
			t.Errorf("still buried after the full sync: %v", tb.Buried)
		}
	}
}

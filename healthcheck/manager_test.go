package healthcheck

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// loopback is a ListenFunc that listens on 127.0.0.1 (or ::1) port 0 for
// every requested address and records the requests, so tests never depend
// on free fixed ports or on the node's addresses.
type loopback struct {
	mu    sync.Mutex
	asked []netip.AddrPort
	fail  map[uint16]error
}

func (l *loopback) listen(a netip.AddrPort) (net.Listener, error) {
	l.mu.Lock()
	l.asked = append(l.asked, a)
	err := l.fail[a.Port()]
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if a.Addr().Is6() {
		return net.Listen("tcp", "[::1]:0")
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func get(t *testing.T, addr net.Addr) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	web = types.NamespacedName{Namespace: "default", Name: "web"}
	api = types.NamespacedName{Namespace: "default", Name: "api"}
)

func TestManager(t *testing.T) {
	lb := &loopback{}
	m := NewManager(lb.listen, nil)
	defer m.Close()
	node := []netip.Addr{netip.MustParseAddr("192.168.1.10")}

	// One server per Service and node address; answers follow the counts.
	if err := m.Sync(map[types.NamespacedName]Service{
		web: {Port: 32000, LocalEndpoints: [2]int{2, 0}},
		api: {Port: 32001},
	}, node); err != nil {
		t.Fatal(err)
	}
	wb, ab := m.Bound(web), m.Bound(api)
	if len(wb) != 1 || len(ab) != 1 {
		t.Fatalf("bound web %v api %v, want one each", wb, ab)
	}
	if code, body := get(t, wb[0]); code != 200 || !strings.Contains(body, `"localEndpoints": 2`) || !strings.Contains(body, `"name": "web"`) {
		t.Errorf("web: %d %s", code, body)
	}
	if code, body := get(t, ab[0]); code != 503 || !strings.Contains(body, `"localEndpoints": 0`) {
		t.Errorf("api: %d %s", code, body)
	}
	if fmt.Sprint(lb.asked) != "[192.168.1.10:32000 192.168.1.10:32001]" && fmt.Sprint(lb.asked) != "[192.168.1.10:32001 192.168.1.10:32000]" {
		t.Errorf("listened on %v", lb.asked)
	}

	// Counts change in place: same listener, new answer.
	lb.asked = nil
	if err := m.Update(map[types.NamespacedName]*Service{web: {Port: 32000}}); err != nil {
		t.Fatal(err)
	}
	if got := m.Bound(web); len(got) != 1 || got[0].String() != wb[0].String() || len(lb.asked) != 0 {
		t.Errorf("a count change reopened the listener: %v (asked %v)", got, lb.asked)
	}
	if code, _ := get(t, wb[0]); code != 503 {
		t.Errorf("web with no local endpoint: %d", code)
	}

	// A Service gone from Sync is closed; its port no longer answers.
	if err := m.Sync(map[types.NamespacedName]Service{web: {Port: 32000, LocalEndpoints: [2]int{1, 0}}}, node); err != nil {
		t.Fatal(err)
	}
	if m.Bound(api) != nil {
		t.Error("api still bound")
	}
	if _, err := net.Dial("tcp", ab[0].String()); err == nil {
		t.Error("api's listener still accepts connections")
	}

	// A port change reopens; an Update with nil closes.
	if err := m.Update(map[types.NamespacedName]*Service{web: {Port: 32100, LocalEndpoints: [2]int{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	if got := lb.asked[len(lb.asked)-1]; got.Port() != 32100 {
		t.Errorf("port change listened on %v", got)
	}
	if err := m.Update(map[types.NamespacedName]*Service{web: nil}); err != nil {
		t.Fatal(err)
	}
	if m.Bound(web) != nil {
		t.Error("web still bound after Update(nil)")
	}
}

func TestManagerFamilies(t *testing.T) {
	lb := &loopback{}
	m := NewManager(lb.listen, nil)
	defer m.Close()
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	addrs := []netip.Addr{netip.MustParseAddr("fd00:1::10"), netip.MustParseAddr("192.168.1.10")}
	if err := m.Sync(map[types.NamespacedName]Service{web: {Port: 32000, LocalEndpoints: [2]int{0, 3}}}, addrs); err != nil {
		t.Fatal(err)
	}
	b := m.Bound(web)
	if len(b) != 2 {
		t.Fatalf("bound %v", b)
	}
	// Sorted: the IPv4 address first. Each answers with its family's count.
	if code, body := get(t, b[0]); code != 503 || !strings.Contains(body, `"localEndpoints": 0`) {
		t.Errorf("IPv4 listener: %d %s", code, body)
	}
	if code, body := get(t, b[1]); code != 200 || !strings.Contains(body, `"localEndpoints": 3`) {
		t.Errorf("IPv6 listener: %d %s", code, body)
	}
}

func TestManagerListenFailure(t *testing.T) {
	lb := &loopback{fail: map[uint16]error{32001: errors.New("address already in use")}}
	m := NewManager(lb.listen, func() bool { return false })
	defer m.Close()
	node := []netip.Addr{netip.MustParseAddr("192.168.1.10")}
	err := m.Sync(map[types.NamespacedName]Service{
		web: {Port: 32000, LocalEndpoints: [2]int{1, 0}},
		api: {Port: 32001, LocalEndpoints: [2]int{1, 0}},
	}, node)
	if err == nil || !strings.Contains(err.Error(), "default/api") || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("Sync error %v, want one naming default/api", err)
	}
	if m.Bound(api) != nil {
		t.Error("a failed Service is bound")
	}
	// The proxy is unhealthy: 503 despite a local endpoint, as kube-proxy.
	if code, body := get(t, m.Bound(web)[0]); code != 503 || !strings.Contains(body, `"serviceProxyHealthy": false`) {
		t.Errorf("web with an unhealthy proxy: %d %s", code, body)
	}
	// The next Sync retries the failed one.
	delete(lb.fail, 32001)
	if err := m.Sync(map[types.NamespacedName]Service{web: {Port: 32000}, api: {Port: 32001}}, node); err != nil {
		t.Errorf("retry: %v", err)
	}
	if m.Bound(api) == nil {
		t.Error("retry did not bind api")
	}
}

// New node addresses reopen every server on the new addresses.
func TestManagerAddressChange(t *testing.T) {
	lb := &loopback{}
	m := NewManager(lb.listen, nil)
	defer m.Close()
	want := map[types.NamespacedName]Service{web: {Port: 32000}}
	if err := m.Sync(want, []netip.Addr{netip.MustParseAddr("192.168.1.10")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(want, []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("192.168.1.11")}); err != nil {
		t.Fatal(err)
	}
	if got := len(m.Bound(web)); got != 2 {
		t.Errorf("bound on %d addresses, want 2", got)
	}
	if got := fmt.Sprint(lb.asked); got != "[192.168.1.10:32000 192.168.1.10:32000 192.168.1.11:32000]" {
		t.Errorf("listened on %s", got)
	}
}

package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"

	"github.com/ipvs-proxy/ipvs-proxy/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/kube"
	"github.com/ipvs-proxy/ipvs-proxy/metrics"
)

// statusClock is a settable clock for Status.
type statusClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *statusClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *statusClock) step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestStatus() (*Status, *statusClock) {
	clk := &statusClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return NewStatus(metrics.New(), time.Minute, clk.now), clk
}

func readyNode() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}}}}
}

// kube-proxy's staleness rule: /livez fails only when an update has been
// queued for the whole timeout without a successful sync.
func TestLiveFailsWhenQueuedUpdateIsStale(t *testing.T) {
	st, clk := newTestStatus()
	if !st.Live().Healthy {
		t.Fatal("not live at start (kube-proxy is healthy while starting)")
	}
	st.loopStarted()
	st.queued()
	clk.step(59 * time.Second)
	st.queued() // does not move the oldest queued time
	if !st.Live().Healthy {
		t.Fatal("not live 59s after queueing (timeout 1m)")
	}
	clk.step(time.Second)
	if st.Live().Healthy {
		t.Fatal("live 1m after an update was queued and never synced")
	}
	st.record(nil, false, nil, Result{}, time.Millisecond, nil)
	if h := st.Live(); !h.Healthy || h.Status[corev1.IPv4Protocol] != (FamilyHealth{LastUpdated: clk.now(), Healthy: true}) {
		t.Fatalf("after a successful sync: %+v", h)
	}
	// A failed sync leaves work queued (the Runner retries it).
	st.record(nil, true, nil, Result{}, time.Millisecond, errors.New("boom"))
	clk.step(time.Minute)
	if st.Live().Healthy {
		t.Fatal("live a timeout after a failed sync that was never retried successfully")
	}
}

// /healthz is the readiness signal: caches synced, a full sync done, the
// node known, not being deleted and not tainted for deletion.
func TestReadyNeedsCachesFullSyncAndEligibleNode(t *testing.T) {
	st, _ := newTestStatus()
	check := func(what string, want bool) {
		t.Helper()
		if got := st.Ready().Healthy; got != want {
			t.Errorf("%s: ready = %v, want %v (%+v)", what, got, want, st.Ready())
		}
	}
	check("at start", false)
	st.setNode(readyNode())
	check("node known, caches not synced", false)
	st.loopStarted()
	check("caches synced, no full sync", false)
	st.record(nil, false, nil, Result{}, time.Millisecond, nil)
	check("only an incremental sync", false)
	st.record(nil, true, nil, Result{}, time.Millisecond, errors.New("boom"))
	check("failed full sync", false)
	st.record(nil, true, nil, Result{}, time.Millisecond, nil)
	check("full sync done", true)

	n := readyNode()
	n.Spec.Taints = []corev1.Taint{{Key: toBeDeletedTaint, Effect: corev1.TaintEffectNoSchedule}}
	st.setNode(n)
	check("tainted ToBeDeletedByClusterAutoscaler", false)
	n = readyNode()
	n.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	st.setNode(n)
	check("node being deleted", false)
	st.setNode(nil)
	check("node gone", false)
	if !st.Live().Healthy {
		t.Error("an ineligible node must not fail /livez")
	}
}

// The bodies and codes are kube-proxy's; answers are counted under its names.
func TestHealthzAndLivezHandlers(t *testing.T) {
	st, clk := newTestStatus()
	srv := httptest.NewServer(healthMux(st))
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := get("/healthz")
	if code != 503 || body["healthy"] != false || body["nodeEligible"] != false || body["ready"] != false {
		t.Errorf("/healthz before start: %d %v", code, body)
	}
	if code, body := get("/livez"); code != 200 || body["healthy"] != true {
		t.Errorf("/livez before start: %d %v", code, body)
	}
	st.setNode(readyNode())
	st.loopStarted()
	st.record(nil, true, nil, Result{}, time.Millisecond, nil)
	clk.step(time.Second)
	code, body = get("/healthz")
	if code != 200 || body["healthy"] != true || body["nodeEligible"] != true {
		t.Errorf("/healthz after a full sync: %d %v", code, body)
	}
	for _, k := range []string{"lastUpdated", "currentTime", "status"} {
		if _, ok := body[k]; !ok {
			t.Errorf("/healthz body has no %q: %v", k, body)
		}
	}
	if body["lastUpdated"] != body["currentTime"] {
		t.Errorf("healthy answer: lastUpdated %v != currentTime %v (kube-proxy reports now)", body["lastUpdated"], body["currentTime"])
	}
	want := map[string]float64{
		`kubeproxy_proxy_healthz_total{code="503"}`: 1,
		`kubeproxy_proxy_healthz_total{code="200"}`: 1,
		`kubeproxy_proxy_livez_total{code="200"}`:   1,
	}
	got := gather(t, st.m)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// gather returns every sample as `name{labels}` -> value (histograms as
// name_count and name_sum).
func gather(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.Metric {
			var ls []string
			for _, l := range mt.Label {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := f.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = mt.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key] = mt.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				name, rest, _ := strings.Cut(key, "{")
				if rest != "" {
					rest = "{" + rest
				}
				out[name+"_count"+rest] = float64(mt.Histogram.GetSampleCount())
				out[name+"_sum"+rest] = mt.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// The metrics of a sync: kube-proxy's names and ours, including network
// programming latency from an EndpointSlice's last-change-trigger-time.
func TestSyncMetrics(t *testing.T) {
	st, clk := newTestStatus()
	st.setNode(readyNode())
	st.loopStarted()
	fk := newFakeKernel()
	rec := newTestReconciler(t, fk)
	src := newSource()
	web := src.put(service("default/web", "10.96.0.10", tcp("http", 80)),
		epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2"))

	res, err := rec.Full(context.Background(), src)
	st.record(rec, true, nil, res, 250*time.Millisecond, err)
	if err != nil {
		t.Fatal(err)
	}

	// An EndpointSlice change triggered 2 s before the sync that programs it.
	clk.step(10 * time.Second)
	sl := epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1")
	sl.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: clk.now().Format(time.RFC3339Nano)}
	trimmed, _ := trim(sl.DeepCopy()) // the handler sees what the informer's transform returns
	st.SliceHandler().OnUpdate(nil, trimmed)
	st.ServiceHandler().OnAdd(service("default/other", "10.96.0.11"), false)
	src.setSlices(web, sl)
	clk.step(2 * time.Second)
	res, err = rec.Incremental(context.Background(), src, []nsnT{web})
	st.record(rec, false, []nsnT{web}, res, 3*time.Millisecond, err)
	if err != nil {
		t.Fatal(err)
	}
	// A full sync that finds drift repairs it and counts it.
	if err := fk.ipvs.DeleteRealServer(mustKey("tcp 10.96.0.10:80"), rs("10.244.1.1:8080").RealServerKey); err != nil {
		t.Fatal(err)
	}
	res, err = rec.Full(context.Background(), src)
	st.record(rec, true, nil, res, time.Second, err)
	if err != nil {
		t.Fatal(err)
	}
	st.problems(2)

	got := gather(t, st.m)
	want := map[string]float64{
		`kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"}`:         3,
		`kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"}`:    2,
		`kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family="IPv4"}`: 1,
		`kubeproxy_sync_partial_proxy_rules_duration_seconds_sum{ip_family="IPv4"}`:   0.003,
		`kubeproxy_network_programming_duration_seconds_count{ip_family="IPv4"}`:      1,
		`kubeproxy_network_programming_duration_seconds_sum{ip_family="IPv4"}`:        2,
		`kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"}`:         float64(clk.now().Unix()),
		`kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"}`:  float64(clk.now().Add(-2 * time.Second).Unix()),
		`kubeproxy_sync_proxy_rules_endpoint_changes_total`:                           1,
		`kubeproxy_sync_proxy_rules_service_changes_total`:                            1,
		`kubeproxy_sync_proxy_rules_endpoint_changes_pending`:                         0,
		`ipvs_proxy_syncs_total{kind="full",result="success"}`:                        2,
		`ipvs_proxy_syncs_total{kind="incremental",result="success"}`:                 1,
		`ipvs_proxy_owned_objects{kind="virtual_server"}`:                             1,
		`ipvs_proxy_owned_objects{kind="real_server"}`:                                1,
		`ipvs_proxy_owned_objects{kind="address"}`:                                    1,
		`ipvs_proxy_drift_repairs_total`:                                              1,
		`ipvs_proxy_services_with_problems`:                                           2,
		`ipvs_proxy_informer_caches_synced`:                                           1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if got[`ipvs_proxy_owned_objects{kind="ipset_member"}`] == 0 {
		t.Error("no owned ipset members counted")
	}
}

type nsnT = types.NamespacedName

// Every kernel call through the counting decorator is counted by kind and result.
func TestCountKernel(t *testing.T) {
	m := metrics.New()
	fk := newFakeKernel()
	k := countKernel(fk.Kernel, m)
	vs := ipvs.VirtualServer{Key: mustKey("tcp 10.96.0.10:80"), Scheduler: "rr"}
	if err := k.IPVS.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	if err := k.IPVS.AddVirtualServer(vs); err == nil {
		t.Fatal("fake accepted a duplicate virtual server")
	}
	if _, err := k.IPVS.Dump(); err != nil {
		t.Fatal(err)
	}
	got := gather(t, m)
	for k, v := range map[string]float64{
		`ipvs_proxy_kernel_operations_total{kind="ipvs_add_virtual_server",result="success"}`: 1,
		`ipvs_proxy_kernel_operations_total{kind="ipvs_add_virtual_server",result="error"}`:   1,
		`ipvs_proxy_kernel_operations_total{kind="ipvs_dump",result="success"}`:               1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// Counting keeps what the adapters offer beyond their interface: IPVS's
// timeouts (host settings) and the conntrack cleanup.
func TestCountKernelKeepsTimeoutsAndConntrack(t *testing.T) {
	fk := newFakeKernel()
	fk.Kernel.Conntrack = conntrack.NewFake()
	k := countKernel(fk.Kernel, metrics.New())
	if _, ok := k.IPVS.(ipvs.TimeoutConfig); !ok {
		t.Error("counted IPVS lost TimeoutConfig: IPVS timeouts would never be set")
	}
	if k.Conntrack == nil {
		t.Error("counted kernel lost Conntrack: UDP flows would never be cleaned")
	}
}

// Counting keeps the adapter's batching (apply batches only through an
// ipvs.Batcher) and counts each operation of a batch under its single
// call's kind.
func TestCountKernelKeepsBatching(t *testing.T) {
	fk := newFakeKernel()
	m := metrics.New()
	k := countKernel(fk.Kernel, m)
	b, ok := k.IPVS.(ipvs.Batcher)
	if !ok {
		t.Fatal("counted IPVS lost Batcher: a cold sync would send one request per operation")
	}
	vs := ipvs.VirtualServer{Key: ipvs.Key{Address: netip.MustParseAddr("10.96.0.1"), Protocol: ipvs.TCP, Port: 80}, Scheduler: "rr"}
	rs := ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: netip.MustParseAddr("10.244.0.1"), Port: 8080}, Weight: 1}
	errs := b.Batch(context.Background(), []ipvs.BatchOp{
		{Cmd: ipvs.BatchAddVirtualServer, VirtualServer: vs},
		{Cmd: ipvs.BatchAddRealServer, VirtualServer: vs, RealServer: rs},
		{Cmd: ipvs.BatchAddRealServer, VirtualServer: vs, RealServer: rs},
	})
	if len(errs) != 3 || errs[0] != nil || errs[1] != nil || errs[2] == nil {
		t.Fatalf("Batch = %v, want nil, nil, an error for the duplicate", errs)
	}
	if fk.ipvs.Batches() != 1 {
		t.Errorf("fake saw %d batches, want 1", fk.ipvs.Batches())
	}
	got := gather(t, m)
	for key, v := range map[string]float64{
		`ipvs_proxy_kernel_operations_total{kind="ipvs_add_virtual_server",result="success"}`: 1,
		`ipvs_proxy_kernel_operations_total{kind="ipvs_add_real_server",result="success"}`:    1,
		`ipvs_proxy_kernel_operations_total{kind="ipvs_add_real_server",result="error"}`:      1,
	} {
		if got[key] != v {
			t.Errorf("%s = %v, want %v", key, got[key], v)
		}
	}
}

// Counting keeps the ipset adapter's batching too, and counts each member
// add and delete of a batch as its single call.
func TestCountKernelKeepsSetBatching(t *testing.T) {
	fk := newFakeKernel()
	m := metrics.New()
	k := countKernel(fk.Kernel, m)
	b, ok := k.Sets.(ipset.Batcher)
	if !ok {
		t.Fatal("counted ipset lost Batcher: a cold sync would send one request per member")
	}
	s := ipset.Set{Name: "T", Type: ipset.HashIP, Family: ipset.FamilyInet, MaxElem: 1}
	if err := fk.sets.Ensure(s); err != nil {
		t.Fatal(err)
	}
	e := func(ip string) ipset.Entry { return ipset.Entry{IP: netip.MustParseAddr(ip)} }
	errs := b.Batch(context.Background(), []ipset.BatchOp{
		{Cmd: ipset.BatchAdd, Set: s.Name, Entry: e("10.96.0.1")},
		{Cmd: ipset.BatchAdd, Set: s.Name, Entry: e("10.96.0.2")}, // full
		{Cmd: ipset.BatchDel, Set: s.Name, Entry: e("10.96.0.1")},
	})
	if len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], ipset.ErrFull) || errs[2] != nil {
		t.Fatalf("Batch = %v, want nil, ErrFull, nil", errs)
	}
	if fk.sets.Batches() != 1 {
		t.Errorf("fake saw %d batches, want 1", fk.sets.Batches())
	}
	got := gather(t, m)
	for key, v := range map[string]float64{
		`ipvs_proxy_kernel_operations_total{kind="ipset_add",result="success"}`: 1,
		`ipvs_proxy_kernel_operations_total{kind="ipset_add",result="error"}`:   1,
		`ipvs_proxy_kernel_operations_total{kind="ipset_del",result="success"}`: 1,
	} {
		if got[key] != v {
			t.Errorf("%s = %v, want %v", key, got[key], v)
		}
	}
}

// Unreachable API server: a log line names what cannot sync, where, since
// when and why; /healthz is 503 while /livez is 200; cancelling (SIGTERM)
// returns nil, so the process exits 0.
func TestUnreachableAPIServer(t *testing.T) {
	old := cacheLogInterval
	cacheLogInterval = 50 * time.Millisecond
	defer func() { cacheLogInterval = old }()

	client := fake.NewClientset()
	client.PrependReactor("list", "*", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	})
	var mu sync.Mutex
	var logs bytes.Buffer
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		logs.WriteString(prefix + " " + args + "\n")
		mu.Unlock()
	}, funcr.Options{})
	cfg := testConfig()
	ctrl := NewController(fakeAPI{client}, NewReconciler(newFakeKernel().Kernel, cfg), cfg, nil)
	ctrl.status.APIServer = "https://127.0.0.1:6443"
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	waitFor(t, "a log line about the caches", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "connection refused")
	})
	mu.Lock()
	line := logs.String()
	mu.Unlock()
	for _, s := range []string{"cannot sync caches", `"apiServer"="https://127.0.0.1:6443"`, `"Services"`, `"EndpointSlices"`, `"Node node-a"`, `"since"=`, `"lastError"=`} {
		if !strings.Contains(line, s) {
			t.Errorf("log line lacks %s:\n%s", s, line)
		}
	}
	if ctrl.Status().Ready().Healthy || !ctrl.Status().Live().Healthy {
		t.Errorf("while unreachable: ready %+v live %+v; want not ready, live", ctrl.Status().Ready(), ctrl.Status().Live())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil (exit code 0 on SIGTERM)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// With the real client (kube.Client), client-go retries a refused connection inside the
// reflector and never reports it; the log line then gets its reason from
// Status.Probe (run.go: GET /version).
func TestUnreachableAPIServerProbeGivesReason(t *testing.T) {
	old := cacheLogInterval
	cacheLogInterval = 100 * time.Millisecond
	defer func() { cacheLogInterval = old }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "https://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	client, err := kube.New(&rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	ctrl := NewController(client, NewReconciler(newFakeKernel().Kernel, cfg), cfg, nil)
	ctrl.status.APIServer = host
	ctrl.status.Probe = client.Version
	var mu sync.Mutex
	var logs strings.Builder
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		logs.WriteString(args + "\n")
		mu.Unlock()
	}, funcr.Options{})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	waitFor(t, "a log line with the reason", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), `"lastError"=`) && strings.Contains(logs.String(), "connection refused")
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// The metrics server serves /debug/pprof only with enableProfiling, as
// kube-proxy's.
func TestMetricsMuxProfiling(t *testing.T) {
	st, _ := newTestStatus()
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(metricsMux(st, on))
		for path, want := range map[string]int{"/debug/pprof/": 404, "/debug/pprof/cmdline": 404, "/metrics": 200, "/proxyMode": 200} {
			if on && strings.HasPrefix(path, "/debug/pprof/") {
				want = 200
			}
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("enableProfiling=%v: %s answered %d, want %d", on, path, resp.StatusCode, want)
			}
		}
		srv.Close()
	}
}

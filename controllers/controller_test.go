package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// waitFor polls cond until it holds or eventually passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// 10. The Controller programs Services created through the API, removes
// deleted ones, and reports bad objects as Events without blocking others.
func TestControllerWithFakeClientset(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.MinSyncPeriod = 10 * time.Millisecond
	cfg.SyncPeriod = time.Minute

	client := fake.NewClientset()
	// The fake clientset drops objects created between an informer's List
	// and its Watch; learn when the watches are in place before creating.
	watching := make(chan string, 16)
	client.PrependWatchReactor("*", func(action clienttesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(clienttesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		watching <- action.GetResource().Resource
		return true, w, nil
	})
	events := record.NewFakeRecorder(100)
	ctrl := NewController(fakeAPI{client}, NewReconciler(fk.Kernel, cfg), cfg, events)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	}()
	seen := map[string]bool{}
	for !seen["services"] || !seen["endpointslices"] {
		select {
		case r := <-watching:
			seen[r] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("informers never watched: %v", seen)
		}
	}
	// The first (full) sync runs once the caches are synced.
	waitFor(t, "first sync", func() bool { return strings.Contains(fk.sets.Save(), "IPVS-PROXY-CLUSTER-IP") })

	create := func(svc *corev1.Service, sl *discoveryv1.EndpointSlice) {
		t.Helper()
		if _, err := client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.DiscoveryV1().EndpointSlices(sl.Namespace).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(service("default/web", "10.96.0.10", port("http", "", 80, 30080)),
		epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2", "10.244.3.3"))
	create(service("kube-system/dns", "10.96.0.53", port("dns", corev1.ProtocolUDP, 53, 0)),
		epSlice("kube-system/dns-1", "dns", "dns", corev1.ProtocolUDP, 5353, "10.244.1.7"))
	waitFor(t, "web and dns programmed", func() bool { return fk.ipvs.String() == webAndDNSIPVS })
	if got := fk.dummyAddrs(); len(got) != 2 {
		t.Errorf("addresses = %v", got)
	}

	// A Service with a bad endpoint: an Event, and the rest still programmed.
	create(service("default/bad", "10.96.0.77", tcp("http", 80)),
		epSlice("default/bad-1", "bad", "http", "", 8080, "not-an-ip", "10.244.7.7"))
	select {
	case ev := <-events.Events:
		if !strings.HasPrefix(ev, "Warning SyncProblem ") || !strings.Contains(ev, `"not-an-ip" is not an IP address`) {
			t.Errorf("event = %q", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Event for the bad Service")
	}
	waitFor(t, "bad's good endpoint programmed", func() bool {
		return strings.Contains(fk.ipvs.String(), "-a -t 10.96.0.77:80 -r 10.244.7.7:8080 -m -w 1\n")
	})
	if got := fk.ipvs.String(); !strings.Contains(got, webAndDNSIPVS[:strings.Index(webAndDNSIPVS, "-A -u")]) ||
		!strings.Contains(got, "-A -u 10.96.0.53:53 -s rr\n-a -u 10.96.0.53:53 -r 10.244.1.7:5353 -m -w 1\n") {
		t.Errorf("other Services not programmed:\n%s", got)
	}

	// Deleting a Service removes it (its slice goes with it, as the
	// garbage collector would do; the Service alone is enough).
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web removed", func() bool {
		s := fk.ipvs.String()
		return !strings.Contains(s, "10.96.0.10:80") && !strings.Contains(s, ":30080")
	})
	waitFor(t, "web's address and ledger removed", func() bool {
		return !strings.Contains(fk.members(), "10.96.0.10") && !strings.Contains(strings.Join(fk.dummyAddrs(), " "), "10.96.0.10")
	})
	if got := fk.ipvs.String(); !strings.Contains(got, "-A -u 10.96.0.53:53") || !strings.Contains(got, "-A -t 10.96.0.77:80") {
		t.Errorf("other Services gone too:\n%s", got)
	}
	if !ctrl.Status().Healthy(time.Minute) {
		t.Error("not healthy after successful syncs")
	}
	// The problem is reported once, not on every sync.
	select {
	case ev := <-events.Events:
		t.Errorf("repeated event: %q", ev)
	default:
	}

	// A bad Service deleted and created again is reported again.
	if err := client.CoreV1().Services("default").Delete(ctx, "bad", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bad removed", func() bool { return !strings.Contains(fk.ipvs.String(), "10.96.0.77") })
	if _, err := client.CoreV1().Services("default").Create(ctx, service("default/bad", "10.96.0.77", tcp("http", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events.Events:
		if !strings.Contains(ev, `"not-an-ip" is not an IP address`) {
			t.Errorf("event = %q", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Event for the re-created bad Service")
	}
}

// The informers watch what kube-proxy's (v1.37) watch: no
// service-proxy-name-labelled Services (unless we have a proxy name of our
// own), no headless-labelled EndpointSlices; the other label is no filter.
func TestProxiedSelector(t *testing.T) {
	for _, tc := range []struct {
		selector string
		labels   map[string]string
		want     bool
	}{
		{proxiedSelector(""), nil, true},
		{proxiedSelector(""), map[string]string{"app": "web"}, true},
		{proxiedSelector(""), map[string]string{desired.HeadlessLabel: ""}, true},
		{proxiedSelector(""), map[string]string{desired.ProxyNameLabel: "other"}, false},
		{sliceSelector, nil, true},
		{sliceSelector, map[string]string{desired.HeadlessLabel: ""}, false},
		{sliceSelector, map[string]string{desired.ProxyNameLabel: "other"}, true},
	} {
		sel, err := labels.Parse(tc.selector)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
			t.Errorf("selector %q matches %v = %v, want %v", sel, tc.labels, got, tc.want)
		}
	}
	if s := proxiedSelector("ipvs-proxy"); s != "" {
		t.Errorf("with a proxy name of our own the selector is %q, want none", s)
	}
}

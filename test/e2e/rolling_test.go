package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// sliceWriter updates one EndpointSlice through client-go (kubectl takes
// seconds per call under TCG; a rolling update is many quick changes).
type sliceWriter struct {
	cs         *kubernetes.Clientset
	name       string
	lastCalled time.Duration
}

func newSliceWriter(t *testing.T, name string) *sliceWriter {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.admin)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &sliceWriter{cs: cs, name: name}
}

// put makes the slice hold eps (IPv4, port "http", on this node).
func (w *sliceWriter) put(t *testing.T, eps []endpoint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	api := w.cs.DiscoveryV1().EndpointSlices("default")
	cur, err := api.Get(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Endpoints = nil
	node := nodeName
	for _, e := range eps {
		ready, serving, terminating := e.ready, e.serving, e.terminating
		cur.Endpoints = append(cur.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			NodeName:   &node,
		})
	}
	if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.lastCalled = time.Since(start)
}

// TestRollingUpdate (issue #10, proof 1): the rolling update of a
// 3-replica Deployment (maxSurge 1, maxUnavailable 0: the defaults' 25%
// of 3), emulated with the EndpointSlice changes the EndpointSlice
// controller makes (no kubelet in the e2e): three times, a new ready
// endpoint is added, an old one turns terminating while still serving
// (ready false, serving true), then not serving, then it is removed. A
// request loop through the ClusterIP (from the node) and one through a
// NodePort (from ext) run all along, new connection each; keep-alive
// connections opened before to every old pod through both stay open.
// Zero failed requests; every kept connection is answered by its own pod
// at every step; the old pods' real servers are at weight 0 while they
// drain (`ipvsadm -Ln`) and gone once the kept connections close.
func TestRollingUpdate(t *testing.T) {
	need(t)
	const name, port, nodePort = "roll", 84, 30084
	olds, news := []string{"pod-a", "pod-b", "pod-c"}, []string{"pod-d", "pod-e", "pod-f"}
	rs := func(pod string) string { return fmt.Sprintf("%s:%d", podIPs(pod)[0], podPort) }
	eps := map[string]endpoint{} // pod -> endpoint, in the slice in order olds, news
	current := func() []endpoint {
		var l []endpoint
		for _, p := range append(append([]string{}, olds...), news...) {
			if e, ok := eps[p]; ok {
				l = append(l, e)
			}
		}
		return l
	}
	slice := func() string { return familySliceYAML(name, name+"-1", "IPv4", current()) }
	for _, p := range olds {
		eps[p] = endpoint{ip: podIPs(p)[0], ready: true, serving: true}
	}
	deleteService(t, name)
	apply(t, slice()+"---\n"+serviceYAML(name, "NodePort", port, nodePort, ""))
	ip := jsonpath(t, "service/"+name, "{.spec.clusterIP}")
	vsIP, vsNP := fmt.Sprintf("%s:%d", ip, port), fmt.Sprintf("%s:%d", nodeAddr1, nodePort)
	vss := []string{vsIP, vsNP}
	for _, vs := range vss {
		for _, p := range olds {
			waitWeight(t, vs, rs(p), "1")
		}
	}

	// Kept connections: one to every old pod through each virtual server.
	type kept struct {
		k        *keptConn
		via, pod string
		answers  int
	}
	var conns []*kept
	defer func() {
		for _, c := range conns {
			c.k.reset()
		}
	}()
	for _, via := range []struct{ ns, vs string }{{"", vsIP}, {"ext", vsNP}} {
		have := map[string]bool{}
		for try := 0; len(have) < len(olds) && try < 4*len(olds); try++ {
			k := dialKept(t, via.ns, via.vs)
			pod, err := k.get()
			if err != nil {
				k.reset()
				t.Fatalf("kept connection to %s: %v", via.vs, err)
			}
			if have[pod] {
				k.reset()
				continue
			}
			have[pod] = true
			conns = append(conns, &kept{k: k, via: via.vs, pod: pod, answers: 1})
		}
		if len(have) < len(olds) {
			t.Fatalf("kept connections through %s reach only %v", via.vs, have)
		}
	}
	for _, c := range conns {
		t.Logf("kept connection %s -> %s answered by %s", c.k.conn.LocalAddr(), c.via, c.pod)
	}
	checkKept := func(when string) {
		t.Helper()
		for _, c := range conns {
			got, err := c.k.get()
			if err != nil || got != c.pod {
				t.Errorf("%s: kept connection %s -> %s: %q %v, want %s", when, c.k.conn.LocalAddr(), c.via, got, err, c.pod)
				continue
			}
			c.answers++
		}
	}

	w := newSliceWriter(t, name+"-1")
	applyAt := func(what string) {
		t.Helper()
		w.put(t, current())
		t.Logf("%s: EndpointSlice updated (Get+Update took %s, returned %s)", what, w.lastCalled.Round(time.Millisecond), time.Now().Format("15:04:05.000"))
	}
	stopIP := requestLoop("http://" + vsIP + "/")
	stopNP := requestLoopIn("ext", "http://"+vsNP+"/")
	start := time.Now()
	time.Sleep(time.Second)
	for i := range olds {
		old, nu := olds[i], news[i]
		step := time.Now()
		t.Logf("step %d starts at %s", i+1, step.Format("15:04:05.000"))
		// Surge: the new replica is ready.
		eps[nu] = endpoint{ip: podIPs(nu)[0], ready: true, serving: true}
		applyAt(nu + " ready")
		for _, vs := range vss {
			waitWeight(t, vs, rs(nu), "1")
		}
		// The old replica is terminating, still serving: no new connections,
		// its open ones go on.
		eps[old] = endpoint{ip: podIPs(old)[0], serving: true, terminating: true}
		applyAt(old + " terminating, serving")
		var toZero time.Duration
		for _, vs := range vss {
			toZero = max(toZero, waitWeight(t, vs, rs(old), "0"))
		}
		listVS(t, vsIP)
		checkKept(old + " terminating (serving)")
		// No longer serving, then gone from the slice: still draining.
		eps[old] = endpoint{ip: podIPs(old)[0], terminating: true}
		applyAt(old + " terminating, not serving")
		delete(eps, old)
		applyAt(old + " removed")
		for _, vs := range vss {
			if w := rsWeight(t, vs, rs(old)); w != "0" {
				listVS(t, vs)
				t.Errorf("%s removed from the slice: weight %q on %s, want 0 (draining: its kept connections are open)", old, w, vs)
			}
		}
		checkKept(old + " removed")
		t.Logf("step %d: %s added, %s terminating -> not serving -> removed in %s; %s at weight 0 on both virtual servers %s after the terminating apply returned",
			i+1, nu, old, time.Since(step).Round(time.Millisecond), old, toZero.Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second) // the loops run on against the new replicas
	resIP, resNP := stopIP(), stopNP()
	updated := time.Since(start)
	for _, l := range []struct {
		what string
		loopResult
	}{{"ClusterIP " + vsIP + " from the node", resIP}, {"NodePort " + vsNP + " from ext", resNP}} {
		t.Logf("request loop through the %s over the update (%s, new connection each): %d requests, %d failed, slowest answer %s, %d answers over 1 s %q: %v",
			l.what, updated.Round(time.Second), total(l.counts), l.counts["ERR"], l.slowest.Round(time.Millisecond), len(l.slow), l.slow, l.counts)
		if l.counts["ERR"] != 0 {
			t.Errorf("%s: %d failed requests: %v", l.what, l.counts["ERR"], l.errs)
		}
		for _, p := range news {
			if l.counts[p] == 0 {
				t.Errorf("%s: new replica %s never answered", l.what, p)
			}
		}
	}
	for _, vs := range vss {
		listVS(t, vs)
		for _, p := range olds {
			if w := rsWeight(t, vs, rs(p)); w != "0" {
				t.Errorf("after the update, with its kept connection open: %s weight %q on %s, want 0", p, w, vs)
			}
		}
		for _, p := range news {
			if w := rsWeight(t, vs, rs(p)); w != "1" {
				t.Errorf("after the update: %s weight %q on %s, want 1", p, w, vs)
			}
		}
	}
	checkKept("after the update")
	keptAnswers := 0
	for _, c := range conns {
		keptAnswers += c.answers
	}
	t.Logf("%d kept connections, %d requests on them, all answered by their own old pod", len(conns), keptAnswers)

	// The kept connections complete (closed with a RST: IPVS keeps the
	// entry 10 s in CLOSE); the old real servers go.
	for _, c := range conns {
		c.k.reset()
	}
	closed := time.Now()
	if err := poll(timeout, func() error {
		var left []string
		for _, vs := range vss {
			for _, p := range olds {
				if w := rsWeight(t, vs, rs(p)); w != "" {
					left = append(left, fmt.Sprintf("%s on %s (weight %s)", p, vs, w))
				}
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("still real servers: %s", strings.Join(left, ", "))
		}
		return nil
	}); err != nil {
		listVS(t, vsIP)
		listVS(t, vsNP)
		t.Fatal(err)
	}
	t.Logf("old real servers gone from %s and %s %s after the kept connections were reset (drainCheckPeriod 5s + IPVS CLOSE 10s)",
		vsIP, vsNP, time.Since(closed).Round(time.Millisecond))
	listVS(t, vsIP)
	converge(t)
}

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ipvs-proxy/ipvs-proxy/controllers"
)

// Reliability proofs under load (issue #8): (e) churn while a client sends
// requests, (b) kill -9 at random points of a cold sync of many Services.
// Objects are written with client-go from the test (kubectl under TCG
// takes about a second per call: too slow for two changes a second or
// thousands of objects).

// clientset is an admin client of the suite's API server.
func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// bulkService is ClusterIP Service NAME (port 80 to podPort) with label
// e2e-bulk=1, and its EndpointSlice NAME-1 with ready endpoints addrs on
// this node.
func bulkService(name string, addrs ...string) (*corev1.Service, *discoveryv1.EndpointSlice) {
	labels := map[string]string{"e2e-bulk": "1"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{
			Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(podPort),
		}}},
	}
	ready, node := true, nodeName
	var eps []discoveryv1.Endpoint
	for _, a := range addrs {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, NodeName: &node})
	}
	pname, proto, port := "http", corev1.ProtocolTCP, int32(podPort)
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Namespace: "default",
			Labels: map[string]string{"e2e-bulk": "1", discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Protocol: &proto, Port: &port}},
		Endpoints:   eps,
	}
	return svc, sl
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// createBulk creates n bulk Services named PREFIX-i, each with endpoints addrs.
func createBulk(t *testing.T, cs *kubernetes.Clientset, prefix string, n int, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	err := parallel(n, 32, func(i int) error {
		svc, sl := bulkService(fmt.Sprintf("%s-%d", prefix, i), addrs...)
		if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			return err
		}
		// A cluster IP the suite's hand-made foreign objects hold would be
		// a conflict the test does not mean to make (with 2,000 Services,
		// a few per cent of runs): such a Service is made again.
		for try := 0; ; try++ {
			got, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if ip := got.Spec.ClusterIP; try == 5 || (!strings.HasPrefix(conflictVS, ip+":") && ip != foreignAddr) {
				return nil
			}
			if err := cs.CoreV1().Services("default").Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil {
				return err
			}
		}
	})
	if err != nil {
		t.Fatalf("create %d Services: %v", n, err)
	}
	t.Logf("created %d Services and EndpointSlices in %.1f s", n, time.Since(start).Seconds())
}

// deleteBulk deletes the bulk Services PREFIX-0..n-1 and their slices.
func deleteBulk(t *testing.T, cs *kubernetes.Clientset, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	err := parallel(n, 32, func(i int) error {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if err := cs.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		return cs.DiscoveryV1().EndpointSlices("default").Delete(ctx, name+"-1", metav1.DeleteOptions{})
	})
	if err != nil {
		t.Errorf("delete %d Services: %v", n, err)
	}
	t.Logf("deleted %d Services and EndpointSlices in %.1f s", n, time.Since(start).Seconds())
}

// TestReliabilityChurn (e): two Service or endpoint changes a second for
// two minutes (E2E_CHURN_SECONDS to change) while clients send requests
// through a ClusterIP (from the node) and a NodePort (from the external
// namespace) to endpoints that stay ready: pod-a and pod-b stay, pod-c
// comes and goes (graceful drain), and filler Services are created and
// deleted. Zero failed requests.
func TestReliabilityChurn(t *testing.T) {
	need(t)
	cs := clientset(t)
	ctx := context.Background()
	apply(t, sliceYAML("churn", podIPs("pod-a", "pod-b")...)+"---\n"+serviceYAML("churn", "NodePort", 80, 0, ""))
	defer kubectl("", "delete", "--ignore-not-found", "service/churn", "endpointslice/churn-1")
	ip := jsonpath(t, "service/churn", "{.spec.clusterIP}")
	np := jsonpath(t, "service/churn", "{.spec.ports[0].nodePort}")
	converge(t)
	answers(t, "", "http://"+ip+":80/", "pod-a", "pod-b")
	seconds := 120
	if n, err := fmt.Sscan(os.Getenv("E2E_CHURN_SECONDS"), &seconds); n != 1 || err != nil {
		seconds = 120
	}
	cip := startTraffic(t, "", ip+":80", allPods...)
	npt := startTraffic(t, "ext", nodeAddr1+":"+np, allPods...)
	// Four writers share one ticker of two ticks a second (a tick no
	// writer is free for is dropped): one toggles pod-c in the Service's
	// EndpointSlice, three create or delete filler Services (with their
	// slices). A write takes about a second from the TCG guest, so fewer
	// writers could not make two changes a second.
	const fillers = 4 // per filler writer
	var changes, failedChanges atomic.Int64
	start := time.Now()
	deadline := start.Add(time.Duration(seconds) * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	var wg sync.WaitGroup
	writer := func(change func(i int) error) {
		defer wg.Done()
		for i := 0; ; i++ {
			<-tick.C
			if !time.Now().Before(deadline) {
				return
			}
			if err := change(i); err != nil {
				failedChanges.Add(1)
				t.Logf("change: %v", err)
			}
			changes.Add(1)
		}
	}
	cur, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "churn-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv := cur.ResourceVersion
	wg.Add(1)
	go writer(func(i int) error {
		// An endpoint change of the Service in use: pod-c in or out.
		addrs := podIPs("pod-a", "pod-b")
		if i%2 == 0 {
			addrs = podIPs("pod-a", "pod-b", "pod-c")
		}
		_, sl := bulkService("churn", addrs...)
		sl.Labels = map[string]string{discoveryv1.LabelServiceName: "churn"}
		sl.ResourceVersion = rv
		got, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{})
		if err != nil {
			if cur, gerr := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "churn-1", metav1.GetOptions{}); gerr == nil {
				rv = cur.ResourceVersion
			}
			return err
		}
		rv = got.ResourceVersion
		return nil
	})
	var filler [3][fillers]bool
	fillerWriter := func(w int) func(int) error {
		return func(i int) error {
			// A Service change: a filler Service created or deleted.
			k := i % fillers
			name := fmt.Sprintf("churn-filler-%d-%d", w, k)
			var err error
			if filler[w][k] {
				if err = cs.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{}); err == nil {
					err = cs.DiscoveryV1().EndpointSlices("default").Delete(ctx, name+"-1", metav1.DeleteOptions{})
				}
			} else {
				svc, sl := bulkService(name, podIPs("pod-c")...)
				if _, err = cs.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err == nil {
					_, err = cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
				}
			}
			if err == nil {
				filler[w][k] = !filler[w][k]
			}
			return err
		}
	}
	wg.Add(3)
	for w := range 3 {
		go writer(fillerWriter(w))
	}
	wg.Wait()
	tick.Stop()
	elapsed := time.Since(start)
	cOK, cFail, cErrs := cip.end()
	nOK, nFail, nErrs := npt.end()
	t.Logf("churn: %d changes in %.0f s (%.2f/s, %d refused by the API); requests: ClusterIP %d answered, %d failed; NodePort %d answered, %d failed",
		changes.Load(), elapsed.Seconds(), float64(changes.Load())/elapsed.Seconds(), failedChanges.Load(), cOK, cFail, nOK, nFail)
	t.Logf("requests failed: %d", cFail+nFail)
	if cFail+nFail > 0 {
		t.Errorf("failed requests:\n%s", strings.Join(append(cErrs, nErrs...), "\n"))
	}
	if cOK == 0 || nOK == 0 {
		t.Errorf("no requests answered (ClusterIP %d, NodePort %d)", cOK, nOK)
	}
	for w := range filler {
		for k, on := range filler[w] {
			if on {
				name := fmt.Sprintf("churn-filler-%d-%d", w, k)
				_ = cs.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
				_ = cs.DiscoveryV1().EndpointSlices("default").Delete(ctx, name+"-1", metav1.DeleteOptions{})
			}
		}
	}
	converge(t)
	checkForeign(t)
}

// Foreign objects of TestReliabilityKillDuringColdSync, made by hand: an
// ipset and an address on our dummy link (the foreign virtual servers are
// the suite's foreignVSs).
const (
	foreignSet  = "E2E-FOREIGN"
	foreignAddr = "10.96.250.250"
)

// ensureForeign makes the foreign set and address if missing.
func ensureForeign(t *testing.T) {
	t.Helper()
	if _, err := sh("ipset", "list", "-n", foreignSet); err != nil {
		for _, argv := range [][]string{{"ipset", "create", foreignSet, "hash:ip"}, {"ipset", "add", foreignSet, "10.1.2.3"}} {
			if _, err := sh(argv...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := sh("ip", "link", "show", "kube-ipvs0"); err != nil {
		if _, err := sh("ip", "link", "add", "kube-ipvs0", "type", "dummy"); err != nil {
			t.Fatal(err)
		}
	}
	if out, _ := sh("ip", "-o", "addr", "show", "dev", "kube-ipvs0"); !strings.Contains(out, foreignAddr+"/32") {
		if _, err := sh("ip", "addr", "add", foreignAddr+"/32", "dev", "kube-ipvs0"); err != nil {
			t.Fatal(err)
		}
	}
}

// checkForeignSetAndAddr fails unless the foreign set and address are as made.
func checkForeignSetAndAddr(t *testing.T) {
	t.Helper()
	if out, err := sh("ipset", "list", foreignSet); err != nil || !strings.Contains(out, "10.1.2.3") {
		t.Errorf("foreign ipset %s changed: %v\n%s", foreignSet, err, out)
	}
	if out, _ := sh("ip", "-o", "addr", "show", "dev", "kube-ipvs0"); !strings.Contains(out, foreignAddr+"/32") {
		t.Errorf("foreign address %s gone from kube-ipvs0:\n%s", foreignAddr, out)
	}
}

// ourVirtualServers counts the virtual servers of ours in the kernel (all
// in /proc/net/ip_vs but the hand-made ones: cheap enough to poll).
func ourVirtualServers() int {
	// thread-self, not /proc/net (= /proc/self/net, the main thread's
	// namespace): a traffic goroutine that locked the main thread and
	// switched it into a pod's netns leaves it there, wedged, when it ends
	// (Go never exits the main thread), and /proc/net/ip_vs would then show
	// that namespace's empty table. Threads that run goroutines are in ours.
	b, _ := os.ReadFile("/proc/thread-self/net/ip_vs")
	n := 0
	for _, l := range lines(string(b)) {
		if strings.HasPrefix(l, "TCP ") || strings.HasPrefix(l, "UDP ") || strings.HasPrefix(l, "SCTP ") {
			n++
		}
	}
	return max(0, n-len(foreignVSs))
}

// TestReliabilityKillDuringColdSync (b): E2E_BULK (default 2,000)
// ClusterIP Services × 2 endpoints; three times: ipvs-proxy stopped, our
// kernel state removed (`ipvs-proxy cleanup`: the next sync is cold), a
// foreign ipset and a foreign address on kube-ipvs0 made, ipvs-proxy
// started with the crash test hook at a random fraction of its cold sync
// (IPVSP_CRASH_AT: it SIGKILLs itself there; asserted to be a SIGKILL with
// the sync incomplete; the point, time and count printed), started again:
// it converges to the plan (no leftovers: ipvsadm -Sn, addresses, set
// members and rules equal the plan's, no temporary set), and the foreign
// virtual servers, set and address are untouched.
func TestReliabilityKillDuringColdSync(t *testing.T) {
	need(t)
	web(t)
	cs := clientset(t)
	n := 2000
	if v, err := fmt.Sscan(os.Getenv("E2E_BULK"), &n); v != 1 || err != nil {
		n = 2000
	}
	// ipvs-proxy is stopped while the objects are written (so that the
	// TCG guest's CPU goes to the writes) and restarted after.
	stopProxy()
	createBulk(t, cs, "bulk", n, podIPs("pod-a", "pod-b")...)
	defer func() {
		// Later tests start from a small, converged state: the restarted
		// ipvs-proxy's full sync removes the bulk (no leftovers either).
		stopProxy()
		deleteBulk(t, cs, "bulk", n)
		if err := launchProxy(); err != nil {
			t.Fatal(err)
		}
		if err := waitProxyReady(5 * time.Minute); err != nil {
			t.Fatal(err)
		}
		convergeWithin(t, 5*time.Minute, foreignAddr)
		_, _ = sh("ip", "addr", "del", foreignAddr+"/32", "dev", "kube-ipvs0")
		_, _ = sh("ipset", "destroy", foreignSet)
	}()
	want := n + 3 // + web's ClusterIP and two NodePorts, at least
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	var summary []string
	for run := 1; run <= 3; run++ {
		stopProxy()
		if out, err := sh(env.proxyBin, "cleanup"); err != nil {
			t.Fatalf("ipvs-proxy cleanup: %v", err)
		} else {
			t.Logf("run %d: ipvs-proxy cleanup: %d lines of output", run, len(lines(out)))
		}
		ensureForeign(t)
		if got := ourVirtualServers(); got != 0 {
			t.Fatalf("run %d: %d virtual servers of ours after cleanup", run, got)
		}
		// A random point of the cold sync, taken from the sync itself: the
		// crash test hook (controllers/crashpoint.go) makes ipvs-proxy
		// SIGKILL itself once that fraction of the cold sync's kernel
		// operations are done, however fast the sync runs.
		at := 0.02 + 0.96*r.Float64()
		launched := time.Now()
		if err := launchProxy(fmt.Sprintf("%s=%.3f", controllers.CrashPointEnv, at)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-proxyDone:
		case <-time.After(5 * time.Minute):
			t.Fatalf("run %d: ipvs-proxy did not kill itself at %.3f of its cold sync within 5 min", run, at)
		}
		delay := time.Since(launched)
		if ws, ok := proxy.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: ipvs-proxy ended with %v, want killed by SIGKILL (log %s)", run, proxy.ProcessState, proxyLog())
		}
		made := ourVirtualServers()
		// The hook says where it stopped: an operation of the cold sync
		// (the plan adds ledger members and addresses, then virtual
		// servers, then real servers, so any count of ours may show).
		where := ""
		if b, err := os.ReadFile(proxyLog()); err == nil {
			if m := regexp.MustCompile(`crash test hook.*? operation=(\d+) of=(\d+) next="([^"]*)"`).FindSubmatch(b); m != nil {
				where = fmt.Sprintf("before operation %s of %s: %s", m[1], m[2], m[3])
			}
		}
		if where == "" {
			t.Fatalf("run %d: no \"crash test hook\" line with the operation in %s", run, proxyLog())
		}
		t.Logf("run %d: killed with SIGKILL %.1f s after the start, at %.3f of the cold sync's operations (%s): %d of ~%d virtual servers made", run, delay.Seconds(), at, where, made, want)
		start := time.Now()
		if err := launchProxy(); err != nil {
			t.Fatal(err)
		}
		if err := waitProxyReady(5 * time.Minute); err != nil {
			t.Fatal(err)
		}
		convergeWithin(t, 5*time.Minute, foreignAddr)
		line := fmt.Sprintf("run %d: kill -9 after %.1f s at %.3f of the cold sync (%s; %d of ~%d virtual servers made); restarted, converged to the plan %.1f s after the restart",
			run, delay.Seconds(), at, where, made, want, time.Since(start).Seconds())
		t.Log(line)
		summary = append(summary, line)
		checkForeign(t)
		checkForeignSetAndAddr(t)
		if out, _ := sh("ipset", "list", "-n"); strings.Contains(out, "-tmp") {
			t.Errorf("run %d: temporary set left:\n%s", run, out)
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("kill -9 during a cold sync of %d Services:\n%s", n, strings.Join(summary, "\n"))
}

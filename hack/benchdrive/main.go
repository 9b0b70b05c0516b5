// Command benchdrive drives `make bench` (hack/bench.sh, hack/bench-guest.sh):
//
//	benchdrive gen      create N Services (even ones NodePort, odd ones
//	                    ClusterIP) with one EndpointSlice of 10 ready,
//	                    off-node endpoints each, plus the Node, through the
//	                    API server; write the `ipvsadm -R` input of the same
//	                    virtual and real servers and the expected counts.
//	benchdrive wait     poll netlink (this network namespace) until the IPVS
//	                    table holds the expected virtual and real servers;
//	                    print the seconds since -since.
//	benchdrive latency  time single changes with N Services existing, from
//	                    the API write until netlink shows them: a new
//	                    Service, an endpoint added, that endpoint removed;
//	                    and of each, the API path alone (apiwatch.go).
//
// It lives in the main module because it only needs client-go and
// moby/ipvs; the table and the plot are drawn by hack/benchplot (its own
// module, so gonum stays out of this one).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/ipvs"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	namespace  = "bench"
	nodeName   = "bench-node"
	endpoints  = 10
	targetPort = 8080
	svcPort    = 80
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchdrive gen|wait|latency [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "wait":
		err = wait(os.Args[2:])
	case "latency":
		err = latency(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdrive:", err)
		os.Exit(1)
	}
}

func client(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 5000, 5000
	return kubernetes.NewForConfig(cfg)
}

// endpointIP is endpoint j of Service i: 10.160.0.0/12, 16 addresses per
// Service (10 ready ones, the 11th for the latency test's added endpoint).
func endpointIP(i, j int) string {
	v := uint32(10)<<24 | uint32(160)<<16 + uint32(i*16+j)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
}

func svcName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }

func service(name string, nodePort bool) *corev1.Service {
	t := corev1.ServiceTypeClusterIP
	if nodePort {
		t = corev1.ServiceTypeNodePort
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Type: t,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: svcPort,
				TargetPort: intstr.FromInt32(targetPort)}},
		},
	}
}

func slice(svc string, ips []string) *discoveryv1.EndpointSlice {
	ready := true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-bench", Namespace: namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "benchdrive"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP),
			Port: ptr(int32(targetPort))}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func readyIPs(i, n int) []string {
	ips := make([]string, n)
	for j := range ips {
		ips[j] = endpointIP(i, j)
	}
	return ips
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig")
	n := fs.Int("n", 1000, "Services")
	nodeIP := fs.String("node-ip", "10.0.0.1", "the Node's InternalIP (NodePort virtual servers)")
	floor := fs.String("floor", "", "write the `ipvsadm -R` input here")
	expect := fs.String("expect", "", "write \"VS RS\" (expected counts) here")
	workers := fs.Int("workers", 8, "parallel API writers")
	_ = fs.Parse(args)
	cs, err := client(*kubeconfig)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace: %w", err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{
		"kubernetes.io/hostname": nodeName}}}
	if node, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node: %w", err)
	} else if err == nil {
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: *nodeIP}}
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node status: %w", err)
		}
	}
	lines := make([]string, *n)
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Go(func() {
			for i := range work {
				// A loaded API server times requests out now and then; a
				// retry finds what the failed try created (AlreadyExists).
				var err error
				for try := 0; try < 10; try++ {
					if err = genOne(ctx, cs, i, *nodeIP, lines); err == nil {
						break
					}
					time.Sleep(time.Second)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				if d := done.Add(1); d%1000 == 0 {
					fmt.Fprintf(os.Stderr, "benchdrive gen: %d/%d Services (%.0fs)\n", d, *n, time.Since(start).Seconds())
				}
			}
		})
	}
	for i := range *n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(os.Stderr, "benchdrive gen: %d Services and EndpointSlices in %.1fs\n", *n, time.Since(start).Seconds())
	vs := *n + (*n+1)/2
	if *floor != "" {
		if err := os.WriteFile(*floor, []byte(strings.Join(lines, "")), 0o644); err != nil {
			return err
		}
	}
	if *expect != "" {
		if err := os.WriteFile(*expect, fmt.Appendf(nil, "%d %d\n", vs, vs*endpoints), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// genOne creates Service i and its slice (or reads an existing one) and
// renders its virtual and real servers for `ipvsadm -R`.
func genOne(ctx context.Context, cs *kubernetes.Clientset, i int, nodeIP string, lines []string) error {
	name := svcName("svc", i)
	svc, err := cs.CoreV1().Services(namespace).Create(ctx, service(name, i%2 == 0), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		svc, err = cs.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("service %s: %w", name, err)
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice(name, readyIPs(i, endpoints)),
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("slice %s: %w", name, err)
	}
	var b strings.Builder
	vss := []string{fmt.Sprintf("%s:%d", svc.Spec.ClusterIP, svcPort)}
	if np := svc.Spec.Ports[0].NodePort; np != 0 {
		vss = append(vss, fmt.Sprintf("%s:%d", nodeIP, np))
	}
	for _, v := range vss {
		fmt.Fprintf(&b, "-A -t %s -s rr\n", v)
		for _, ip := range readyIPs(i, endpoints) {
			fmt.Fprintf(&b, "-a -t %s -r %s:%d -m -w 1\n", v, ip, targetPort)
		}
	}
	lines[i] = b.String()
	return nil
}

func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	wantVS := fs.Int("vs", 0, "virtual servers expected")
	wantRS := fs.Int("rs", 0, "real servers expected")
	since := fs.Float64("since", 0, "start (unix seconds, fractional)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long since -since")
	interval := fs.Duration("interval", time.Second, "poll interval")
	_ = fs.Parse(args)
	h, err := ipvs.New("")
	if err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	defer h.Close()
	t0 := time.Unix(0, int64(*since*1e9))
	c := counter{h: h, perVS: *wantRS / max(*wantVS, 1), full: map[string]bool{}}
	for {
		vs, rs, err := c.count(*wantVS)
		if err == nil && vs >= *wantVS && rs >= *wantRS {
			fmt.Printf("%.2f\n", time.Since(t0).Seconds())
			return nil
		}
		if time.Since(t0) > *timeout {
			fmt.Fprintf(os.Stderr, "benchdrive wait: %d/%d VS, %d/%d RS after %s (err %v)\n", vs, *wantVS, rs, *wantRS, *timeout, err)
			fmt.Println("timeout")
			return nil
		}
		time.Sleep(*interval)
	}
}

// counter counts virtual and real servers cheaply enough to poll at 10k
// Services: the virtual servers in one dump, then the real servers of only
// those virtual servers not yet seen complete (perVS real servers); a
// complete one is not read again.
type counter struct {
	h     *ipvs.Handle
	perVS int
	full  map[string]bool
}

func (c *counter) count(wantVS int) (vs, rs int, err error) {
	svcs, err := c.h.GetServices()
	if err != nil {
		return 0, 0, err
	}
	if len(svcs) < wantVS {
		return len(svcs), 0, nil
	}
	for _, s := range svcs {
		key := fmt.Sprintf("%s:%d/%d", s.Address, s.Port, s.Protocol)
		if c.full[key] {
			rs += c.perVS
			continue
		}
		d, err := c.h.GetDestinations(s)
		if err != nil {
			return len(svcs), rs, err
		}
		rs += len(d)
		if len(d) >= c.perVS {
			c.full[key] = true
		}
	}
	return len(svcs), rs, nil
}

type kindResult struct {
	Kind     string    `json:"kind"`
	Seconds  []float64 `json:"seconds"`
	Timeouts int       `json:"timeouts"`
	P50      float64   `json:"p50"`
	P99      float64   `json:"p99"`
	// The API path of each change (apiwatch.go; -1: not seen) and its
	// quantiles, and those of what is left (seconds minus the API path).
	API     []float64 `json:"api_seconds,omitempty"`
	APIP50  float64   `json:"api_p50,omitempty"`
	APIP99  float64   `json:"api_p99,omitempty"`
	RestP50 float64   `json:"rest_p50,omitempty"`
	RestP99 float64   `json:"rest_p99,omitempty"`
}

// sample is one change's latency and its API path (-1: not seen).
type sample struct{ total, api float64 }

func latency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	n := fs.Int("n", 1000, "Services that exist (svc-0 .. svc-N-1)")
	changes := fs.Int("changes", 50, "changes of each kind")
	timeout := fs.Duration("timeout", 60*time.Second, "longest wait for one change")
	limit := fs.Duration("limit", 20*time.Minute, "stop a kind after this long")
	out := fs.String("out", "", "write the JSON result here")
	_ = fs.Parse(args)
	cs, err := client(*kubeconfig)
	if err != nil {
		return err
	}
	h, err := ipvs.New("")
	if err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	defer h.Close()
	ctx := context.Background()
	vsOf := func(name string) (*ipvs.Service, error) {
		svc, err := cs.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return &ipvs.Service{Address: net.ParseIP(svc.Spec.ClusterIP), Protocol: syscall.IPPROTO_TCP,
			Port: svcPort, AddressFamily: syscall.AF_INET}, nil
	}
	hasRS := func(vs *ipvs.Service, ip string) bool {
		ds, err := h.GetDestinations(vs)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.Address.String() == ip {
				return true
			}
		}
		return false
	}
	// poll waits until cond holds: the seconds since t0, or -1 on timeout.
	poll := func(t0 time.Time, cond func() bool) float64 {
		for {
			if cond() {
				return time.Since(t0).Seconds()
			}
			if time.Since(t0) > *timeout {
				return -1
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Spread the touched Services over the table.
	pick := func(k int) int { return (k * (*n / max(*changes, 1))) % *n }
	aw, err := startAPIWatch(ctx, cs, namespace)
	if err != nil {
		return err
	}
	var results []kindResult
	run := func(kind string, one func(k int) (sample, error)) error {
		r := kindResult{Kind: kind}
		start := time.Now()
		for k := range *changes {
			if time.Since(start) > *limit {
				fmt.Fprintf(os.Stderr, "benchdrive latency: %s cut after %d changes (limit %s)\n", kind, k, *limit)
				break
			}
			smp, err := one(k)
			if err != nil {
				return fmt.Errorf("%s %d: %w", kind, k, err)
			}
			s := smp.total
			if s < 0 {
				r.Timeouts++
				s = timeout.Seconds()
			}
			r.Seconds = append(r.Seconds, s)
			r.API = append(r.API, smp.api)
			time.Sleep(200 * time.Millisecond) // one change at a time, not a burst
		}
		r.P50, r.P99 = quantile(r.Seconds, 0.50), quantile(r.Seconds, 0.99)
		var api, rest []float64
		for i, a := range r.API {
			if a >= 0 && r.Seconds[i] < timeout.Seconds() {
				api, rest = append(api, a), append(rest, max(r.Seconds[i]-a, 0))
			}
		}
		r.APIP50, r.APIP99 = quantile(api, 0.50), quantile(api, 0.99)
		r.RestP50, r.RestP99 = quantile(rest, 0.50), quantile(rest, 0.99)
		fmt.Fprintf(os.Stderr, "benchdrive latency: %-13s n=%d p50=%.3fs p99=%.3fs timeouts=%d (API path n=%d p50=%.3fs p99=%.3fs; the rest p50=%.3fs p99=%.3fs)\n",
			kind, len(r.Seconds), r.P50, r.P99, r.Timeouts, len(api), r.APIP50, r.APIP99, r.RestP50, r.RestP99)
		results = append(results, r)
		return nil
	}
	err = run("new-service", func(k int) (sample, error) {
		name := svcName("new", k)
		t0 := time.Now()
		svc, err := cs.CoreV1().Services(namespace).Create(ctx, service(name, false), metav1.CreateOptions{})
		if err != nil {
			return sample{}, err
		}
		sl, err := cs.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice(name, readyIPs(*n+k, endpoints)),
			metav1.CreateOptions{})
		if err != nil {
			return sample{}, err
		}
		vs := &ipvs.Service{Address: net.ParseIP(svc.Spec.ClusterIP), Protocol: syscall.IPPROTO_TCP, Port: svcPort,
			AddressFamily: syscall.AF_INET}
		last := endpointIP(*n+k, endpoints-1)
		total := poll(t0, func() bool { return hasRS(vs, last) })
		return sample{total, aw.since(t0, sl.Name, sl.ResourceVersion, 2*time.Second)}, nil
	})
	if err != nil {
		return err
	}
	patchEndpoints := func(i, count int) (*discoveryv1.EndpointSlice, error) {
		s := slice(svcName("svc", i), readyIPs(i, count))
		b, err := json.Marshal(map[string]any{"endpoints": s.Endpoints})
		if err != nil {
			return nil, err
		}
		return cs.DiscoveryV1().EndpointSlices(namespace).Patch(ctx, svcName("svc", i)+"-bench",
			types.MergePatchType, b, metav1.PatchOptions{})
	}
	for _, kind := range []string{"endpoint-add", "endpoint-remove"} {
		add := kind == "endpoint-add"
		err = run(kind, func(k int) (sample, error) {
			i := pick(k)
			vs, err := vsOf(svcName("svc", i))
			if err != nil {
				return sample{}, err
			}
			extra := endpointIP(i, endpoints)
			count := endpoints
			if add {
				count++
			}
			t0 := time.Now()
			sl, err := patchEndpoints(i, count)
			if err != nil {
				return sample{}, err
			}
			total := poll(t0, func() bool { return hasRS(vs, extra) == add })
			return sample{total, aw.since(t0, sl.Name, sl.ResourceVersion, 2*time.Second)}, nil
		})
		if err != nil {
			return err
		}
	}
	// Restore the generated state for the next contender.
	for k := range *changes {
		_ = cs.CoreV1().Services(namespace).Delete(ctx, svcName("new", k), metav1.DeleteOptions{})
		_ = cs.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, svcName("new", k)+"-bench", metav1.DeleteOptions{})
		_, _ = patchEndpoints(pick(k), endpoints)
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if *out != "" {
		return os.WriteFile(*out, b, 0o644)
	}
	fmt.Println(string(b))
	return nil
}

// quantile is the nearest-rank quantile q of xs (0 for none).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

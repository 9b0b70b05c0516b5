package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

const execAnnotation = "demo.ipvs-proxy.io/exec"

type agent struct {
	cs         kubernetes.Interface
	node       string
	nodeIP     string   // the primary node IP
	nodeIPs    []string // the node IPs, primary first (dual-stack: one per family)
	netns      string   // the node's network namespace
	podCIDRs   []netip.Prefix
	gws        []netip.Addr // slot 1 of each pod CIDR, on every node-side veth (podnet.go)
	dnsIP      string
	self       string // this executable
	coredns    string // coredns binary
	kubeconfig string // for CoreDNS

	// DaemonSet pods of the local image (imagepod.go) and the log endpoint (logs.go).
	imageRootfs, imageName string
	apiHost, apiPort       string // in-cluster API server for those pods
	caPEM                  []byte
	kubeletPort            int
	hostnameAddr           string // the Node's Hostname address (where the API server calls us)
	busybox                string // runs the commands of busybox pods

	mu   sync.Mutex
	pods map[types.UID]*localPod
	used map[uint32]bool   // pod slots in use (podnet.go)
	logs map[string]string // "ns/pod" -> log file
}

type localPod struct {
	mu                        sync.Mutex // one sync or teardown at a time
	ns, name, netns, veth, ip string     // ip: the primary pod IP
	ips                       []string   // all pod IPs, primary first
	slot                      uint32     // its slot in the pod CIDRs (0: none)
	hostNet                   bool       // runs in the node's netns (image pods)
	cmd                       *exec.Cmd
}

func runNode(args []string) error {
	fs := flag.NewFlagSet("node", flag.ExitOnError)
	a := &agent{pods: map[types.UID]*localPod{}, used: map[uint32]bool{}, logs: map[string]string{}}
	var kubeconfig, apiServer, kubeletCA string
	var nodeIPs, podCIDRs listFlag
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig")
	fs.StringVar(&a.node, "node-name", "", "Node name")
	fs.Var(&nodeIPs, "node-ip", "InternalIP; dual-stack: one per family, comma separated or repeated, the primary first")
	fs.StringVar(&a.netns, "netns", "", "node network namespace (default: node name)")
	fs.Var(&podCIDRs, "pod-cidr", "this node's pod CIDR; dual-stack: one per family, comma separated or repeated, the primary first")
	fs.StringVar(&a.dnsIP, "dns", "10.96.0.10", "nameserver for pods")
	fs.StringVar(&a.coredns, "coredns", "", "coredns binary for pods annotated "+execAnnotation+"=coredns")
	fs.StringVar(&a.kubeconfig, "coredns-kubeconfig", "", "kubeconfig for CoreDNS (default --kubeconfig)")
	fs.StringVar(&a.imageRootfs, "image-rootfs", "", "unpacked rootfs of the local image: pods using --image run chrooted in it, in the node netns")
	fs.StringVar(&a.imageName, "image", "ipvs-proxy", "image name (any tag) that --image-rootfs holds")
	fs.StringVar(&apiServer, "api-server", "", "HOST:PORT given to image pods as KUBERNETES_SERVICE_HOST/PORT (default: the kubeconfig's server)")
	fs.IntVar(&a.kubeletPort, "kubelet-port", 0, "serve the kubelet log endpoint (TLS) on this port and publish it in the Node (0: off)")
	fs.StringVar(&kubeletCA, "kubelet-client-ca", "", "CA of the API server's kubelet client certificate (with --kubelet-port)")
	fs.StringVar(&a.busybox, "busybox", "", "busybox binary for pods of the busybox image (default: their command from PATH)")
	fs.StringVar(&a.hostnameAddr, "hostname-address", "", "the Node's Hostname address (default: the node name)")
	_ = fs.Parse(args)
	if a.netns == "" {
		a.netns = a.node
	}
	if a.kubeconfig == "" {
		a.kubeconfig = kubeconfig
	}
	ips, err := parseNodeIPs(nodeIPs)
	if err != nil {
		return err
	}
	a.nodeIPs = strs(ips)
	a.nodeIP = a.nodeIPs[0]
	if a.podCIDRs, err = parsePodCIDRs(podCIDRs); err != nil {
		return err
	}
	a.gws = slotAddrs(a.podCIDRs, 1)
	if a.self, err = os.Executable(); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	a.cs = kubernetes.NewForConfigOrDie(cfg)
	log.SetPrefix(a.node + " agent: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if a.imageRootfs != "" {
		if a.caPEM, err = readCA(cfg.CAData, cfg.CAFile); err != nil {
			return err
		}
		if apiServer == "" {
			apiServer = strings.TrimPrefix(cfg.Host, "https://")
		}
		if a.apiHost, a.apiPort, err = net.SplitHostPort(apiServer); err != nil {
			return fmt.Errorf("--api-server: %w", err)
		}
	}
	if a.kubeletPort != 0 {
		go func() {
			if err := a.serveLogs(":"+strconv.Itoa(a.kubeletPort), kubeletCA); err != nil {
				log.Fatalf("kubelet log endpoint: %v", err)
			}
		}()
	}

	ctx := context.Background()
	for {
		if err = a.registerNode(ctx); err == nil {
			break
		}
		log.Printf("register node: %v (retrying)", err)
		time.Sleep(2 * time.Second)
	}
	log.Printf("node %s registered (InternalIP %s, podCIDRs %s)", a.node, strings.Join(a.nodeIPs, ","), strings.Join(strs(a.podCIDRs), ","))

	factory := informers.NewSharedInformerFactoryWithOptions(a.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" + a.node }))
	inf := factory.Core().V1().Pods().Informer()
	queue := make(chan *corev1.Pod, 1000)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { queue <- o.(*corev1.Pod) },
		UpdateFunc: func(_, o any) { queue <- o.(*corev1.Pod) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				a.teardown(p.UID)
			}
		},
	})
	factory.Start(ctx.Done())
	// A few workers so that one slow pod start does not hold up the others.
	for i := 0; i < 3; i++ {
		go func() {
			for p := range queue {
				a.sync(ctx, p)
			}
		}()
	}
	// Keep the Node Ready and untainted (heartbeat).
	for {
		time.Sleep(20 * time.Second)
		if err := a.registerNode(ctx); err != nil {
			log.Printf("node heartbeat: %v", err)
		}
	}
}

// listFlag collects a flag's values (repeated, each possibly a comma list).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// registerNode creates/updates the Node, its Ready status and drops the
// not-ready/unreachable taints the API server adds on creation.
func (a *agent) registerNode(ctx context.Context) error {
	n, err := a.cs.CoreV1().Nodes().Get(ctx, a.node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: a.node, Labels: map[string]string{
				"kubernetes.io/hostname": a.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
			Spec: corev1.NodeSpec{PodCIDR: a.podCIDRs[0].String(), PodCIDRs: strs(a.podCIDRs)},
		}
		n, err = a.cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	now := metav1.Now()
	caps := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n.Status.Capacity, n.Status.Allocatable = caps, caps
	n.Status.Addresses = nil
	for _, ip := range a.nodeIPs {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: cmp.Or(a.hostnameAddr, a.node)})
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.kubeletPort)
	n.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "demo agent (hack/agent) is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion: "v1.37.2-demo-agent", ContainerRuntimeVersion: "netns://demo",
		OperatingSystem: "linux", Architecture: "amd64", OSImage: "ipvs-proxy demo (network namespace)",
		KernelVersion: kernelVersion(),
	}
	if n, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return err
	}
	var keep []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Key != "node.kubernetes.io/not-ready" && t.Key != "node.kubernetes.io/unreachable" {
			keep = append(keep, t)
		}
	}
	if len(keep) != len(n.Spec.Taints) {
		n.Spec.Taints = keep
		_, err = a.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	}
	return err
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func (a *agent) sync(ctx context.Context, p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		a.teardown(p.UID)
		// No kubelet: finish the graceful deletion ourselves.
		err := a.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Printf("delete pod %s/%s: %v", p.Namespace, p.Name, err)
		}
		return
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	a.mu.Lock()
	lp := a.pods[p.UID]
	if lp == nil {
		lp = &localPod{ns: p.Namespace, name: p.Name}
		a.pods[p.UID] = lp
	}
	a.mu.Unlock()
	lp.mu.Lock()
	defer lp.mu.Unlock()
	a.mu.Lock()
	gone := a.pods[p.UID] != lp
	a.mu.Unlock()
	if gone {
		return
	}
	if lp.ip != "" {
		if p.Status.PodIP == lp.ip && (isReady(p) || lp.hostNet && p.Status.Phase == corev1.PodRunning) {
			return
		}
	} else if err := a.start(ctx, p, lp); err != nil {
		log.Printf("start pod %s/%s: %v", p.Namespace, p.Name, err)
		a.mu.Lock()
		delete(a.pods, p.UID)
		a.mu.Unlock()
		a.stop(lp)
		return
	}
	if lp.hostNet {
		// The readiness probe decides Ready; report Running now, Ready when it passes.
		ready := a.probeReady(p, lp.ip, 0)
		if err := a.reportStatus(ctx, p, lp.ips, ready, nil); err != nil {
			log.Printf("status of pod %s/%s: %v", p.Namespace, p.Name, err)
			return
		}
		if !ready {
			go func() {
				if a.probeReady(p, lp.ip, 3*time.Minute) {
					if err := a.reportStatus(ctx, p, lp.ips, true, nil); err != nil {
						log.Printf("status of pod %s/%s: %v", p.Namespace, p.Name, err)
					}
				}
			}()
		}
		log.Printf("pod %s/%s running in the node netns (ready %v)", p.Namespace, p.Name, ready)
		return
	}
	a.waitPorts(p, lp.ip)
	if err := a.reportStatus(ctx, p, lp.ips, true, nil); err != nil {
		log.Printf("status of pod %s/%s: %v", p.Namespace, p.Name, err)
		return
	}
	log.Printf("pod %s/%s running at %s (netns %s)", p.Namespace, p.Name, strings.Join(lp.ips, ","), lp.netns)
}

// probeReady runs the first container's HTTP readiness probe against ip
// until it passes or wait is over (once when wait is 0). No probe: ready.
func (a *agent) probeReady(p *corev1.Pod, ip string, wait time.Duration) bool {
	pr := p.Spec.Containers[0].ReadinessProbe
	if pr == nil || pr.HTTPGet == nil {
		return true
	}
	url := fmt.Sprintf("http://%s/%s", net.JoinHostPort(ip, pr.HTTPGet.Port.String()), strings.TrimPrefix(pr.HTTPGet.Path, "/"))
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 400 {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Second)
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func tcpPorts(p *corev1.Pod) []string {
	var ports []string
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
				ports = append(ports, strconv.Itoa(int(cp.ContainerPort)))
			}
		}
	}
	return ports
}

// runAll runs commands in order, up to the first that fails.
func runAll(cmds [][]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// allocSlot takes a free pod slot: its addresses, one per pod CIDR.
func (a *agent) allocSlot() (uint32, []netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n := uint32(2); n <= podSlots(a.podCIDRs); n++ {
		if !a.used[n] {
			a.used[n] = true
			return n, slotAddrs(a.podCIDRs, n), nil
		}
	}
	return 0, nil, fmt.Errorf("pod CIDRs %v exhausted", a.podCIDRs)
}

// start creates the pod's netns, wires it to the node netns and starts its
// process. The pod netns is named after the pod. Pods of the local image
// run in the node's netns instead (imagepod.go).
func (a *agent) start(ctx context.Context, p *corev1.Pod, lp *localPod) error {
	if a.imageMatches(p) {
		if !p.Spec.HostNetwork {
			return fmt.Errorf("image %s: only hostNetwork pods are supported", p.Spec.Containers[0].Image)
		}
		dir := filepath.Join(os.TempDir(), "pod."+p.Namespace+"."+p.Name)
		argv, err := a.imageArgv(ctx, p, dir)
		if err != nil {
			return err
		}
		lp.hostNet, lp.ip, lp.ips, lp.netns = true, a.nodeIP, a.nodeIPs, a.netns
		return a.exec(p, lp, argv, nil)
	}
	slot, addrs, err := a.allocSlot()
	if err != nil {
		return err
	}
	lp.slot, lp.ips = slot, strs(addrs)
	ip := lp.ips[0]
	lp.ip = ip
	lp.netns = p.Name
	if p.Namespace != "default" {
		lp.netns = p.Namespace + "." + p.Name
	}
	lp.veth = "vp" + strings.ReplaceAll(string(p.UID), "-", "")[:12]
	_ = run("ip", "netns", "del", lp.netns) // leftovers of an earlier run
	if err := runAll(vethSteps(a.netns, lp.netns, lp.veth, a.gws, addrs)); err != nil {
		return err
	}
	dir := filepath.Join("/etc/netns", lp.netns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	resolv := fmt.Sprintf("search %s.svc.cluster.local svc.cluster.local cluster.local\nnameserver %s\noptions ndots:5\n", p.Namespace, a.dnsIP)
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return err
	}
	hosts := "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
	for _, ip := range lp.ips {
		hosts += ip + " " + p.Name + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}

	var argv []string
	if p.Annotations[execAnnotation] == "coredns" && a.coredns != "" {
		corefile := filepath.Join(os.TempDir(), "Corefile."+lp.netns)
		cf := fmt.Sprintf(`.:53 {
    errors
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`, a.kubeconfig)
		if err := os.WriteFile(corefile, []byte(cf), 0o644); err != nil {
			return err
		}
		argv = []string{a.coredns, "-conf", corefile}
	} else if c := p.Spec.Containers[0]; len(c.Command)+len(c.Args) > 0 {
		// A command pod (the walkthrough's internal-client): the command
		// with the host's tools (busybox images: the host's busybox), in
		// the pod's netns and /etc/netns files.
		argv = append(append([]string{}, c.Command...), c.Args...)
		if a.busybox != "" && (c.Image == "busybox" || strings.HasPrefix(c.Image, "busybox:")) {
			argv = append([]string{a.busybox}, argv...)
		}
		var onExit func(int32)
		ips := lp.ips // lp's are cleared on teardown
		if p.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			onExit = func(code int32) {
				lp.mu.Lock() // after sync's Running report
				defer lp.mu.Unlock()
				if err := a.reportStatus(ctx, p, ips, false, &code); err != nil {
					log.Printf("status of pod %s/%s: %v", p.Namespace, p.Name, err)
				}
				log.Printf("pod %s/%s exited with %d", p.Namespace, p.Name, code)
			}
		}
		return a.exec(p, lp, append([]string{"ip", "netns", "exec", lp.netns}, argv...), onExit)
	} else {
		argv = append([]string{a.self, "serve", p.Name}, tcpPorts(p)...)
		if len(argv) == 3 {
			argv = append(argv, "80")
		}
	}
	return a.exec(p, lp, append([]string{"ip", "netns", "exec", lp.netns}, argv...), nil)
}

// exec starts the pod's process with its output in the pod's log file
// (served by the log endpoint); onExit, if set, gets its exit code.
func (a *agent) exec(p *corev1.Pod, lp *localPod, argv []string, onExit func(int32)) error {
	file := filepath.Join(os.TempDir(), "pod."+p.Namespace+"."+p.Name+".log")
	logf, err := os.Create(file)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	a.mu.Lock()
	a.logs[p.Namespace+"/"+p.Name] = file
	a.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		if onExit != nil {
			onExit(int32(cmd.ProcessState.ExitCode()))
		}
	}()
	lp.cmd = cmd
	return nil
}

// waitPorts waits (bounded) until the pod's TCP ports accept connections;
// the guest root netns routes the pod CIDRs via the nodes.
func (a *agent) waitPorts(p *corev1.Pod, ip string) {
	deadline := time.Now().Add(60 * time.Second)
	for _, port := range tcpPorts(p) {
		for time.Now().Before(deadline) {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), 2*time.Second)
			if err == nil {
				c.Close()
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// reportStatus writes the pod's status: Running (ready or not) while exit is
// nil, else Succeeded/Failed with the container's exit code.
func (a *agent) reportStatus(ctx context.Context, p *corev1.Pod, ips []string, ready bool, exit *int32) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := a.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != p.UID || cur.DeletionTimestamp != nil {
			return nil
		}
		now := metav1.Now()
		st := &cur.Status
		st.Phase = corev1.PodRunning
		if exit != nil {
			st.Phase = corev1.PodSucceeded
			if *exit != 0 {
				st.Phase = corev1.PodFailed
			}
			ready = false
		}
		st.HostIP, st.HostIPs = a.nodeIP, nil
		for _, h := range a.nodeIPs {
			st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: h})
		}
		st.PodIP, st.PodIPs = ips[0], nil
		for _, ip := range ips {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
		if st.StartTime == nil {
			st.StartTime = &now
		}
		st.Conditions = nil
		for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			status := corev1.ConditionTrue
			if !ready && (t == corev1.ContainersReady || t == corev1.PodReady) {
				status = corev1.ConditionFalse
			}
			st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: now})
		}
		st.ContainerStatuses = nil
		started := true
		for _, c := range cur.Spec.Containers {
			state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
			if exit != nil {
				reason := "Completed"
				if *exit != 0 {
					reason = "Error"
				}
				state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: *exit, Reason: reason, FinishedAt: now}}
			}
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: "netns://" + c.Image, ContainerID: "netns://" + string(cur.UID),
				Ready: ready, Started: &started, State: state,
			})
		}
		_, err = a.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// teardown stops the pod's process and removes its netns (which takes the
// veth pair and the node's /32 route with it).
func (a *agent) teardown(uid types.UID) {
	a.mu.Lock()
	lp := a.pods[uid]
	delete(a.pods, uid)
	a.mu.Unlock()
	if lp == nil {
		return
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	a.stop(lp)
}

// stop does the work of teardown; lp.mu is held.
func (a *agent) stop(lp *localPod) {
	if lp.netns == "" {
		return
	}
	if lp.cmd != nil && lp.cmd.Process != nil {
		_ = lp.cmd.Process.Kill()
	}
	a.mu.Lock()
	delete(a.logs, lp.ns+"/"+lp.name)
	a.mu.Unlock()
	if lp.hostNet {
		log.Printf("pod %s/%s stopped", lp.ns, lp.name)
		lp.netns, lp.ip, lp.ips, lp.cmd, lp.hostNet = "", "", nil, nil, false
		return
	}
	_ = run("ip", "-n", a.netns, "link", "del", lp.veth)
	if err := run("ip", "netns", "del", lp.netns); err != nil {
		log.Printf("%v", err)
	}
	_ = os.RemoveAll(filepath.Join("/etc/netns", lp.netns))
	a.mu.Lock()
	if lp.slot != 0 {
		delete(a.used, lp.slot)
	}
	a.mu.Unlock()
	log.Printf("pod %s/%s stopped, netns %s removed", lp.ns, lp.name, lp.netns)
	lp.netns, lp.ip, lp.ips, lp.slot, lp.cmd = "", "", nil, 0, nil
}

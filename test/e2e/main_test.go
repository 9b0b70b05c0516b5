// Package e2e runs ipvs-proxy against a real API server and a real kernel.
//
// The tests only run in the hack/sandbox guest started by hack/e2e.sh (which
// sets E2E_KUBECONFIG and the other E2E_* variables below); anywhere else
// every test skips. See README.md.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	nodeName    = "e2e-node"
	clusterCIDR = "10.244.0.0/16"
	nodeAddr1   = "192.168.50.2"
	nodeAddr2   = "192.168.60.2"
	extAddr1    = "192.168.50.1"
	extAddr2    = "192.168.60.1"
	podGateway  = "10.244.0.1"
	// The node is dual-stack (issue #10 item 3): IPv6 beside every IPv4
	// address, the API server has a second Service CIDR fd00:10:96::/112
	// (hack/e2e.sh).
	clusterCIDR6 = "fd00:10:244::/64"
	nodeAddr6a   = "fd00:50::2"
	nodeAddr6b   = "fd00:60::2"
	extAddr6a    = "fd00:50::1"
	extAddr6b    = "fd00:60::1"
	podGateway6  = "fd00:10:244::1"
	// clusterCIDRs and nodePortAddrs are ipvs-proxy's and plan's flags.
	clusterCIDRs  = clusterCIDR + "," + clusterCIDR6
	nodePortAddrs = "192.168.50.0/24,192.168.60.0/24,fd00:50::/64,fd00:60::/64"
	nodeAddrs     = nodeAddr1 + "," + nodeAddr2 + "," + nodeAddr6a + "," + nodeAddr6b
	podPort       = 8080
	healthz       = "127.0.0.1:10256"
	// conflictVS is a hand-made virtual server on an address of the service
	// CIDR, for a Service that conflicts with it (TestBadObject).
	conflictVS = "10.96.99.99:80"
	timeout    = 60 * time.Second // bounded waits (TCG is slow)
)

// foreignVSs are virtual servers made by hand before ipvs-proxy starts:
// ipvs-proxy must never touch them. ipvsadm -Sn lists them in this order.
var foreignVSs = []struct{ vs, rs string }{
	{"10.99.0.1:80", "10.244.0.13:8080"},
	{conflictVS, "10.244.0.12:8080"},
}

// pods are network namespaces with an IPv4 and an IPv6 address each;
// pod-d/e/f are the new replicas of TestRollingUpdate.
var pods = []struct{ name, ip, ip6 string }{
	{"pod-a", "10.244.0.11", "fd00:10:244::11"},
	{"pod-b", "10.244.0.12", "fd00:10:244::12"},
	{"pod-c", "10.244.0.13", "fd00:10:244::13"},
	{"pod-d", "10.244.0.14", "fd00:10:244::14"},
	{"pod-e", "10.244.0.15", "fd00:10:244::15"},
	{"pod-f", "10.244.0.16", "fd00:10:244::16"},
}

// env is the guest environment from hack/e2e.sh.
var env struct {
	enabled    bool
	kubeconfig string // ipvs-proxy's (guest variant)
	admin      string // admin kubeconfig for kubectl (guest variant)
	kubectl    string
	proxyBin   string
	artifacts  string
}

var (
	proxy     *exec.Cmd
	proxyDone chan struct{} // closed when proxy exited
	proxyRuns int
	helpers   []*exec.Cmd
	self      string
)

func TestMain(m *testing.M) {
	switch os.Getenv("E2E_HELPER") {
	case "serve":
		serve()
		return
	case "get":
		get()
		return
	case "keepalive":
		keepalive()
		return
	}
	env.kubeconfig = os.Getenv("E2E_KUBECONFIG")
	if env.kubeconfig == "" || os.Getenv("SANDBOX_GUEST") != "1" || os.Geteuid() != 0 {
		// Not in the e2e guest: every test skips (see need).
		os.Exit(m.Run())
	}
	env.enabled = true
	root := os.Getenv("E2E_ROOT")
	env.admin = or(os.Getenv("E2E_ADMIN_KUBECONFIG"), filepath.Join(filepath.Dir(env.kubeconfig), "admin-guest.kubeconfig"))
	env.kubectl = or(os.Getenv("E2E_KUBECTL"), filepath.Join(root, "_output/tools/bin/kubectl"))
	env.proxyBin = or(os.Getenv("E2E_IPVS_PROXY"), filepath.Join(root, "_output/bin/ipvs-proxy"))
	env.artifacts = or(os.Getenv("E2E_ARTIFACTS"), os.TempDir())
	var err error
	if self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := 1
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
	} else {
		code = m.Run()
	}
	teardown()
	os.Exit(code)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// need skips t outside the e2e guest.
func need(t *testing.T) {
	t.Helper()
	if !env.enabled {
		t.Skip("e2e: run through hack/e2e.sh (needs the sandbox guest and E2E_KUBECONFIG)")
	}
}

func sh(argv ...string) (string, error) {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// setup builds the node's network: an external client namespace "ext"
// reaching the node's two addresses (IPv4 and IPv6 each) over two veth
// pairs, six pod namespaces (IPv4 and IPv6) with an HTTP server each, a
// foreign virtual server; then starts ipvs-proxy. IPv6 forwarding is the
// CNI's job (ipvs-proxy leaves it alone), so the test sets it; addresses
// skip duplicate address detection (nodad) so they work at once.
func setup() error {
	cmds := [][]string{
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
		{"ip", "link", "set", "lo", "up"},
		{"ip", "netns", "add", "ext"},
		{"ip", "-n", "ext", "link", "set", "lo", "up"},
		{"ip", "link", "add", "node1", "type", "veth", "peer", "name", "ext1", "netns", "ext"},
		{"ip", "link", "add", "node2", "type", "veth", "peer", "name", "ext2", "netns", "ext"},
		{"ip", "addr", "add", nodeAddr1 + "/24", "dev", "node1"},
		{"ip", "addr", "add", nodeAddr2 + "/24", "dev", "node2"},
		{"ip", "link", "set", "node1", "up"},
		{"ip", "link", "set", "node2", "up"},
		{"ip", "-n", "ext", "addr", "add", extAddr1 + "/24", "dev", "ext1"},
		{"ip", "-n", "ext", "addr", "add", extAddr2 + "/24", "dev", "ext2"},
		{"ip", "-n", "ext", "link", "set", "ext1", "up"},
		{"ip", "-n", "ext", "link", "set", "ext2", "up"},
		{"ip", "addr", "add", nodeAddr6a + "/64", "dev", "node1", "nodad"},
		{"ip", "addr", "add", nodeAddr6b + "/64", "dev", "node2", "nodad"},
		{"ip", "-n", "ext", "addr", "add", extAddr6a + "/64", "dev", "ext1", "nodad"},
		{"ip", "-n", "ext", "addr", "add", extAddr6b + "/64", "dev", "ext2", "nodad"},
	}
	for i, p := range pods {
		ns, host := p.name, fmt.Sprintf("veth-%c", 'a'+i)
		cmds = append(cmds,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "addr", "add", podGateway + "/32", "dev", host},
			[]string{"ip", "link", "set", host, "up"},
			[]string{"ip", "route", "add", p.ip + "/32", "dev", host},
			[]string{"ip", "-n", ns, "addr", "add", p.ip + "/32", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "route", "add", podGateway, "dev", "eth0"},
			[]string{"ip", "-n", ns, "route", "add", "default", "via", podGateway},
			[]string{"ip", "addr", "add", podGateway6 + "/128", "dev", host, "nodad"},
			[]string{"ip", "-6", "route", "add", p.ip6 + "/128", "dev", host},
			[]string{"ip", "-n", ns, "addr", "add", p.ip6 + "/128", "dev", "eth0", "nodad"},
			[]string{"ip", "-n", ns, "-6", "route", "add", podGateway6, "dev", "eth0"},
			[]string{"ip", "-n", ns, "-6", "route", "add", "default", "via", podGateway6},
		)
	}
	for _, f := range foreignVSs {
		cmds = append(cmds,
			[]string{"ipvsadm", "-A", "-t", f.vs, "-s", "wrr"},
			[]string{"ipvsadm", "-a", "-t", f.vs, "-r", f.rs, "-m", "-w", "1"},
		)
	}
	for _, c := range cmds {
		if _, err := sh(c...); err != nil {
			return err
		}
	}
	for _, p := range pods {
		c := exec.Command("ip", "netns", "exec", p.name, self)
		c.Env = append(os.Environ(), "E2E_HELPER=serve", "E2E_NAME="+p.name)
		f, err := os.Create(filepath.Join(env.artifacts, p.name+".log"))
		if err != nil {
			return err
		}
		c.Stdout, c.Stderr = f, f
		if err := c.Start(); err != nil {
			return err
		}
		helpers = append(helpers, c)
	}
	// The pods answer directly over both families (pod networking works).
	for _, p := range pods {
		for _, ip := range []string{p.ip, p.ip6} {
			url := "http://" + net.JoinHostPort(ip, fmt.Sprint(podPort)) + "/"
			if err := poll(timeout, func() error {
				body, err := httpGet(url)
				if err == nil && body != p.name {
					err = fmt.Errorf("%s answered %q", url, body)
				}
				return err
			}); err != nil {
				return fmt.Errorf("pod %s: %w", p.name, err)
			}
		}
	}
	return startProxy()
}

func teardown() {
	stopProxy()
	for _, c := range helpers {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	// Keep the kernel state for the artifacts.
	for name, argv := range map[string][]string{
		"ipvsadm.txt":        {"ipvsadm", "-Sn"},
		"ipset.txt":          {"ipset", "save"},
		"iptables-save.txt":  {"iptables-save"},
		"ip6tables-save.txt": {"ip6tables-save"},
		"addresses.txt":      {"ip", "addr"},
	} {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		_ = os.WriteFile(filepath.Join(env.artifacts, name), out, 0o644)
	}
}

// proxyLog is the log file of the current ipvs-proxy run.
func proxyLog() string {
	return filepath.Join(env.artifacts, fmt.Sprintf("ipvs-proxy-%d.log", proxyRuns))
}

// startProxy starts ipvs-proxy and waits until /healthz says ready.
func startProxy() error {
	if err := launchProxy(); err != nil {
		return err
	}
	return waitProxyReady(2 * timeout)
}

// launchProxy starts ipvs-proxy (log proxyLog()) without waiting for it;
// extra are more NAME=VALUE environment variables.
func launchProxy(extra ...string) error {
	proxyRuns++
	f, err := os.Create(proxyLog())
	if err != nil {
		return err
	}
	c := exec.Command(env.proxyBin, "run",
		"--kubeconfig", env.kubeconfig,
		"--node-name", nodeName,
		"--cluster-cidr", clusterCIDRs,
		"--min-sync-period", "100ms",
		"--audit-period", "10s", // the rolling audit repairs drift within seconds (TestReliabilityTampering)
		"--node-port-addresses", nodePortAddrs,
		"--healthz-address", healthz,
		"-v", "2")
	c.Stdout, c.Stderr = f, f
	if len(extra) > 0 {
		c.Env = append(os.Environ(), extra...)
	}
	if err := c.Start(); err != nil {
		f.Close()
		return err
	}
	proxy = c
	done := make(chan struct{})
	proxyDone = done
	go func() { _ = c.Wait(); f.Close(); close(done) }()
	return nil
}

// waitProxyReady waits up to d until the running ipvs-proxy's /healthz says ready.
func waitProxyReady(d time.Duration) error {
	c, done := proxy, proxyDone
	return poll(d, func() error {
		select {
		case <-done:
			return fmt.Errorf("ipvs-proxy exited: %s (see %s)", c.ProcessState, proxyLog())
		default:
		}
		body, err := httpGet("http://" + healthz + "/healthz")
		// kube-proxy's JSON; "ready" once the caches synced and a full sync
		// succeeded ("healthy" also needs a Node object, which this test has not).
		if err == nil && !strings.Contains(body, `"ready":true`) {
			err = fmt.Errorf("healthz: %q", body)
		}
		return err
	})
}

func stopProxy() {
	if proxy != nil && proxy.Process != nil {
		_ = proxy.Process.Signal(os.Interrupt)
		select {
		case <-proxyDone:
		case <-time.After(10 * time.Second):
			_ = proxy.Process.Kill()
			<-proxyDone
		}
	}
}

// poll calls f until it returns nil or d passes; it returns f's last error.
func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var plainClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func httpGet(url string) (string, error) {
	resp, err := plainClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// --- helpers run as the test binary itself (E2E_HELPER) ----------------------

// serve answers every request with E2E_NAME (keep-alive on), /source
// with the client address the pod sees (source-IP preservation), and /who
// with both ("NAME SOURCE": hairpin and masquerade checks).
func serve() {
	name := os.Getenv("E2E_NAME")
	srv := &http.Server{
		Addr: fmt.Sprintf(":%d", podPort),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			switch r.URL.Path {
			case "/source":
				fmt.Fprintln(w, host)
				return
			case "/who":
				fmt.Fprintln(w, name, host)
				return
			}
			fmt.Fprintln(w, name)
		}),
	}
	fmt.Fprintln(os.Stderr, srv.ListenAndServe())
	os.Exit(1)
}

// get fetches E2E_URL E2E_COUNT times, each on a new connection, and prints
// one line per request: the body or "ERR <error>".
func get() {
	n := 1
	fmt.Sscan(os.Getenv("E2E_COUNT"), &n)
	for i := 0; i < n; i++ {
		body, err := httpGet(os.Getenv("E2E_URL"))
		if err != nil {
			fmt.Println("ERR", err)
			continue
		}
		fmt.Println(body)
	}
}

// keepalive opens one TCP connection to E2E_ADDR, prints "LOCAL <addr>",
// then for each line on stdin sends one HTTP/1.1 request on that connection
// and prints the body or "ERR <error>".
func keepalive() {
	conn, err := net.DialTimeout("tcp", os.Getenv("E2E_ADDR"), 5*time.Second)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("LOCAL", conn.LocalAddr())
	r := bufio.NewReader(conn)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
			fmt.Println("ERR", err)
			continue
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			fmt.Println("ERR", err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(string(b)))
	}
}

// inNS runs the get helper in network namespace ns: n requests to url, one
// connection each; it returns the bodies (or "ERR ..." lines).
func inNS(ctx context.Context, ns, url string, n int) ([]string, error) {
	c := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self)
	c.Env = append(os.Environ(), "E2E_HELPER=get", "E2E_URL="+url, fmt.Sprintf("E2E_COUNT=%d", n))
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("get %s in %s: %v", url, ns, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

package conformance

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node both proxies believe they are: one Node object (hostnameOverride
// for both), the same addresses in both network namespaces, so "local"
// means the same to both.
const (
	node        = "conf-node"
	zone        = "zone-a"
	nsKP        = "conf-kp" // kube-proxy's network namespace
	nsIP        = "conf-ip" // ipvs-proxy's
	namespace   = "conformance"
	clusterCIDR = "10.244.0.0/16,fd00:10:244::/56"
	dummy       = "kube-ipvs0"
	settle      = 8 * time.Minute // kube-proxy's first sync of the corpus takes minutes under TCG
)

// nodeAddrs are the node's addresses (on a dummy "eth0" in each namespace):
// the first of each family is in the Node object; 192.168.80.2 is outside
// nodePortAddresses (no node ports there).
var nodeAddrs = []string{"192.168.70.2/24", "192.168.70.3/24", "192.168.80.2/24", "fd00:70::2/64"}

// env is the guest environment from hack/e2e.sh.
var env struct {
	enabled   bool
	admin     string // admin kubeconfig (guest variant: server 10.0.2.100:PORT)
	kubectl   string
	kubeProxy string
	ipvsProxy string
	art       string
	dir       string // scratch folder in the guest
}

var procs []*exec.Cmd

func TestMain(m *testing.M) {
	env.admin = os.Getenv("E2E_ADMIN_KUBECONFIG")
	if env.admin == "" || os.Getenv("SANDBOX_GUEST") != "1" || os.Geteuid() != 0 {
		os.Exit(m.Run()) // the pure tests; TestConformance skips
	}
	env.enabled = true
	root := os.Getenv("E2E_ROOT")
	env.kubectl = or(os.Getenv("E2E_KUBECTL"), filepath.Join(root, "_output/tools/bin/kubectl"))
	env.kubeProxy = or(os.Getenv("E2E_KUBE_PROXY"), filepath.Join(root, "_output/tools/bin/kube-proxy"))
	env.ipvsProxy = or(os.Getenv("E2E_IPVS_PROXY"), filepath.Join(root, "_output/bin/ipvs-proxy"))
	env.art = filepath.Join(or(os.Getenv("E2E_ARTIFACTS"), os.TempDir()), "conformance")
	env.dir = "/tmp/conformance"
	code := 1
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: setup:", err)
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

func need(t *testing.T) {
	t.Helper()
	if !env.enabled {
		t.Skip("conformance: run through make conformance (needs the sandbox guest and E2E_ADMIN_KUBECONFIG)")
	}
}

func sh(argv ...string) (string, error) {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// inNS runs argv in network namespace ns.
func inNS(ns string, argv ...string) (string, error) {
	return sh(append([]string{"ip", "netns", "exec", ns}, argv...)...)
}

// kubectl runs kubectl as admin (from the guest's root namespace) with stdin.
func kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, env.kubectl, append([]string{"--kubeconfig", env.admin}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// start starts argv in the background, output to the artifact log.
func start(log string, argv ...string) error {
	f, err := os.Create(filepath.Join(env.art, log))
	if err != nil {
		return err
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = f, f
	if err := c.Start(); err != nil {
		f.Close()
		return err
	}
	procs = append(procs, c)
	return nil
}

// setup builds two identical node namespaces, a relay from each to the API
// server, the Node object and the proxies' configuration file.
func setup() error {
	for _, d := range []string{env.art, env.dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The API server as the namespaces see it: 127.0.0.1:PORT relayed over
	// a unix socket (unix sockets are not per network namespace) to the
	// host, which the root namespace reaches at 10.0.2.100:PORT.
	kc, err := os.ReadFile(env.admin)
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`server: (https://[^\s]+)`).FindSubmatch(kc)
	if m == nil {
		return fmt.Errorf("%s: no server", env.admin)
	}
	u, err := url.Parse(string(m[1]))
	if err != nil {
		return err
	}
	port := u.Port()
	sock := filepath.Join(env.dir, "api.sock")
	kubeconfig := filepath.Join(env.dir, "kubeconfig")
	kc = bytes.Replace(kc, m[1], []byte("https://127.0.0.1:"+port), 1)
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	if err := start("relay.log", "socat", "UNIX-LISTEN:"+sock+",fork", "TCP:"+u.Host); err != nil {
		return err
	}
	// kube-proxy wants these loaded (it reads /proc/modules); both get them.
	for _, mod := range []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack", "ip_set"} {
		_, _ = sh("modprobe", mod)
	}
	for _, ns := range []string{nsKP, nsIP} {
		cmds := [][]string{
			{"ip", "netns", "add", ns},
			{"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", ns, "link", "add", "eth0", "type", "dummy"},
			{"ip", "-n", ns, "link", "set", "eth0", "up"},
		}
		for _, a := range nodeAddrs {
			c := []string{"ip", "-n", ns, "addr", "add", a, "dev", "eth0"}
			if strings.Contains(a, ":") {
				c = append(c, "nodad")
			}
			cmds = append(cmds, c)
		}
		cmds = append(cmds,
			[]string{"ip", "-n", ns, "route", "add", "default", "dev", "eth0"},
			[]string{"ip", "-n", ns, "-6", "route", "add", "default", "dev", "eth0"},
		)
		for _, c := range cmds {
			if _, err := sh(c...); err != nil {
				return err
			}
		}
		if err := start("relay-"+ns+".log", "ip", "netns", "exec", ns, "socat",
			"TCP-LISTEN:"+port+",bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:"+sock); err != nil {
			return err
		}
	}
	if err := connect(); err != nil {
		return err
	}
	if err := applyYAML(nodeYAML, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+namespace+"\n"); err != nil {
		return err
	}
	if err := patchStatus("", "node/"+node, nodeStatus); err != nil {
		return err
	}
	// One KubeProxyConfiguration for both (ipvs-proxy reads kube-proxy's
	// file; README "kube-proxy configuration").
	cfg := filepath.Join(env.dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(proxyConfig, kubeconfig)), 0o644); err != nil {
		return err
	}
	return nil
}

// startProxies starts kube-proxy and ipvs-proxy, one in each namespace. The
// suite starts them after the corpus is in the API server: kube-proxy's
// first sync (per family, one after the other) then programs all of it at
// once, which under TCG is minutes faster than following the stream of
// objects (kube-proxy execs ipset per member and iptables-restore per sync).
func startProxies() error {
	cfg := filepath.Join(env.dir, "proxy.yaml")
	if err := start("kube-proxy.log", "ip", "netns", "exec", nsKP, env.kubeProxy, "--config", cfg, "--v=2"); err != nil {
		return err
	}
	return start("ipvs-proxy.log", "ip", "netns", "exec", nsIP, env.ipvsProxy, "run", "--config", cfg,
		"--min-sync-period", "100ms", "-v", "2")
}

const nodeYAML = `apiVersion: v1
kind: Node
metadata:
  name: ` + node + `
  labels:
    kubernetes.io/hostname: ` + node + `
    topology.kubernetes.io/zone: ` + zone + `
spec:
  podCIDRs: [10.244.0.0/24, "fd00:10:244::/64"]
  podCIDR: 10.244.0.0/24
`

const nodeStatus = `{"status":{"addresses":[{"type":"InternalIP","address":"192.168.70.2"},{"type":"InternalIP","address":"fd00:70::2"},{"type":"Hostname","address":"` + node + `"}]}}`

// proxyConfig is kube-proxy's configuration, read by both proxies.
const proxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
hostnameOverride: ` + node + `
clusterCIDR: ` + clusterCIDR + `
nodePortAddresses: [192.168.70.0/24, "fd00:70::/64"]
clientConnection:
  kubeconfig: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
ipvs:
  # Every kube-proxy IPVS sync is a full one (an exec per ipset, per
  # member changed and per iptables table, minutes under TCG): no periodic
  # ones while the suite waits.
  syncPeriod: 1h
  minSyncPeriod: 1s
`

func teardown() {
	// Kernel state and objects for the artifacts.
	for _, ns := range []string{nsKP, nsIP} {
		for name, argv := range map[string][]string{
			"ipvsadm.txt":       {"ipvsadm", "-Sn"},
			"ipset.txt":         {"ipset", "save"},
			"iptables-save.txt": {"iptables-save"},
			"addresses.txt":     {"ip", "addr"},
			"metrics.txt":       {"curl", "-s", "http://127.0.0.1:10249/metrics"},
		} {
			out, _ := inNS(ns, argv...)
			_ = os.WriteFile(filepath.Join(env.art, ns+"-"+name), []byte(out), 0o644)
		}
	}
	out, _ := kubectl("", "get", "services,endpointslices", "-n", namespace, "-o", "yaml")
	_ = os.WriteFile(filepath.Join(env.art, "objects.yaml"), []byte(out), 0o644)
	for i := len(procs) - 1; i >= 0; i-- {
		c := procs[i]
		_ = c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	// Not the namespace: without kube-controller-manager (the e2e control
	// plane) it would stay Terminating.
	if dyn == nil {
		return
	}
	for _, gvr := range []string{"Service", "EndpointSlice"} {
		c, cancel := ctx()
		_ = dyn.Resource(resources[gvr]).Namespace(namespace).DeleteCollection(c, metav1.DeleteOptions{}, metav1.ListOptions{})
		cancel()
	}
	_ = remove("", "node/"+node)
	for _, ns := range []string{nsKP, nsIP} {
		_, _ = sh("ip", "netns", "del", ns)
	}
}

// Command controlplane runs a throw-away Kubernetes control plane (etcd +
// kube-apiserver, optionally kube-controller-manager + kube-scheduler) on
// host loopback for ipvs-proxy tests, writes kubeconfigs into --dir, prints
// READY, and runs until SIGINT/SIGTERM, then stops its children.
//
// Binaries come from --bin-dir (default: the folder of this executable,
// i.e. _output/tools/bin as built by hack/tools.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Users the kubeconfigs authenticate as (client cert CN / O).
const (
	adminUser     = "kubernetes-admin"
	adminGroup    = "system:masters"
	ipvsProxyUser = "ipvs-proxy" // bound by config/rbac/clusterrolebinding.yaml
	kcmUser       = "system:kube-controller-manager"
	schedulerUser = "system:kube-scheduler"
)

type options struct {
	dir             string
	port            int
	binDir          string
	rbacDir         string
	serviceCIDR     string
	nodePortRange   string
	authorization   string
	guestHost       string
	tlsServerName   string
	withControllers bool
	controllers     string
	apiserverArgs   multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseFlags() options {
	var o options
	exe, _ := os.Executable()
	flag.StringVar(&o.dir, "dir", "_output/controlplane", "state folder: kubeconfigs, certs, etcd data, logs (etcd data is wiped at start)")
	flag.IntVar(&o.port, "port", 6443, "kube-apiserver secure port on 127.0.0.1")
	flag.StringVar(&o.binDir, "bin-dir", filepath.Dir(exe), "folder with etcd, kube-apiserver, kubectl (kube-controller-manager, kube-scheduler)")
	flag.StringVar(&o.rbacDir, "rbac-dir", "config/rbac", "folder whose *.yaml are applied with admin credentials at start")
	flag.StringVar(&o.serviceCIDR, "service-cluster-ip-range", "10.96.0.0/16", "Service cluster IP range")
	flag.StringVar(&o.nodePortRange, "service-node-port-range", "30000-32767", "NodePort range")
	flag.StringVar(&o.authorization, "authorization-mode", "Node,RBAC", "kube-apiserver --authorization-mode")
	flag.StringVar(&o.guestHost, "guest-host", "10.0.2.100", "address the guest VM reaches host loopback at (qemu guestfwd); server of *-guest.kubeconfig")
	flag.StringVar(&o.tlsServerName, "guest-tls-server-name", "localhost", "tls-server-name in *-guest.kubeconfig (a SAN of the serving cert)")
	flag.BoolVar(&o.withControllers, "with-controllers", false, "also run kube-controller-manager and kube-scheduler")
	flag.StringVar(&o.controllers, "controllers", joinControllers(defaultControllers), "kube-controller-manager --controllers (with --with-controllers)")
	flag.Var(&o.apiserverArgs, "apiserver-arg", "extra kube-apiserver flag, e.g. --apiserver-arg=--v=4 (repeatable)")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cp := &controlPlane{opts: o}
	err := cp.start(ctx)
	if err == nil {
		err = cp.wait(ctx)
	}
	cp.stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

type controlPlane struct {
	opts     options
	children []*child // in start order; stopped in reverse
}

func (cp *controlPlane) track(c *child) {
	if c != nil {
		cp.children = append(cp.children, c)
	}
}

func (cp *controlPlane) start(ctx context.Context) error {
	t0 := time.Now()
	o := cp.opts
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, "logs")
	etcdDir := filepath.Join(dir, "etcd")
	if err := os.RemoveAll(etcdDir); err != nil {
		return err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(o.binDir, name) }

	guestIP := net.ParseIP(o.guestHost)
	if guestIP == nil {
		return fmt.Errorf("--guest-host %q is not an IP", o.guestHost)
	}
	firstServiceIP, err := firstIP(o.serviceCIDR)
	if err != nil {
		return err
	}
	p, err := newPKI(filepath.Join(dir, "pki"),
		[]net.IP{net.ParseIP("127.0.0.1"), guestIP, firstServiceIP},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return err
	}
	paths, admin, err := writeKubeconfigs(dir, o, p)
	if err != nil {
		return err
	}

	etcdClient, err := freePort()
	if err != nil {
		return err
	}
	etcdPeer, err := freePort()
	if err != nil {
		return err
	}
	e := etcdConfig{bin: bin("etcd"), dataDir: etcdDir, clientPort: etcdClient, peerPort: etcdPeer}
	c, err := startEtcd(ctx, e, logDir)
	cp.track(c)
	if err != nil {
		return err
	}
	c, err = startAPIServer(ctx, apiserverConfig{
		bin: bin("kube-apiserver"), port: o.port, etcdURL: e.clientURL(),
		serviceCIDR: o.serviceCIDR, nodePortRange: o.nodePortRange,
		authorization: o.authorization, pki: p, extraArgs: o.apiserverArgs,
	}, logDir, admin)
	cp.track(c)
	if err != nil {
		return err
	}
	if err := applyRBAC(ctx, bin("kubectl"), paths["admin"], o.rbacDir); err != nil {
		return err
	}
	if o.withControllers {
		c, err = startChild("kube-controller-manager", bin("kube-controller-manager"),
			controllerManagerArgs(paths["controller-manager"], p, o.controllers, o.serviceCIDR), logDir)
		cp.track(c)
		if err != nil {
			return err
		}
		c, err = startChild("kube-scheduler", bin("kube-scheduler"), schedulerArgs(paths["scheduler"]), logDir)
		cp.track(c)
		if err != nil {
			return err
		}
	}

	env := []string{
		"CONTROLPLANE_SERVER=https://127.0.0.1:" + strconv.Itoa(o.port),
		"CONTROLPLANE_GUEST_SERVER=https://" + net.JoinHostPort(o.guestHost, strconv.Itoa(o.port)),
		"CONTROLPLANE_GUEST_TLS_SERVER_NAME=" + o.tlsServerName,
		"ADMIN_KUBECONFIG=" + paths["admin"],
		"IPVS_PROXY_KUBECONFIG=" + paths["ipvs-proxy"],
		"ADMIN_GUEST_KUBECONFIG=" + paths["admin-guest"],
		"IPVS_PROXY_GUEST_KUBECONFIG=" + paths["ipvs-proxy-guest"],
		"IPVS_PROXY_USER=" + ipvsProxyUser,
		"CONTROLPLANE_LOGS=" + logDir,
	}
	envFile := filepath.Join(dir, "controlplane.env")
	if err := os.WriteFile(envFile, []byte(strings.Join(env, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	for _, l := range env {
		fmt.Println(l)
	}
	fmt.Printf("CONTROLPLANE_ENV=%s\n", envFile)
	fmt.Printf("READY in %.1fs\n", time.Since(t0).Seconds())
	return nil
}

// wait blocks until a signal arrives or a child dies.
func (cp *controlPlane) wait(ctx context.Context) error {
	dead := make(chan *child, len(cp.children))
	for _, c := range cp.children {
		go func(c *child) { <-c.done; dead <- c }(c)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case c := <-dead:
		return fmt.Errorf("%s exited (%v); log %s:\n%s", c.name, c.err, c.logPath, c.tail(3000))
	}
}

func (cp *controlPlane) stop() {
	for i := len(cp.children) - 1; i >= 0; i-- {
		cp.children[i].stop(10 * time.Second)
	}
}

// firstIP returns the first host address of cidr (the kubernetes Service IP).
func firstIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ip := n.IP.To4()
	if ip == nil {
		ip = append(net.IP(nil), n.IP...)
	} else {
		ip = append(net.IP(nil), ip...)
	}
	ip[len(ip)-1]++
	return ip, nil
}

// Command agent is the demo's minimal stand-in for a kubelet (hack/demo.sh).
// Containers cannot run in the sandbox, so each pod is a network namespace:
//
//	agent node    register a Node (InternalIP, podCIDR, Ready, no not-ready
//	              taint) and run every pod scheduled to it as a netns with an
//	              address from the pod CIDR (dual-stack: --node-ip and
//	              --pod-cidr take one per family, a pod gets an address of
//	              each; podnet.go), a veth to the node netns, a
//	              resolv.conf pointing at kube-dns, and an HTTP server on each
//	              declared TCP containerPort answering with the pod's name (or
//	              CoreDNS for pods annotated demo.ipvs-proxy.io/exec=coredns);
//	              reports podIP(s)/Running/Ready through the status subresource
//	              and finishes deletions (grace period 0) once torn down.
//	              Pods of the local image (--image-rootfs: the DaemonSet's
//	              ipvs-proxy) run chrooted in its rootfs in the node netns,
//	              busybox pods with a command run it with the host's busybox
//	              in their netns (imagepod.go); every pod's output is served
//	              at the kubelet's /containerLogs endpoint (logs.go).
//	agent serve   the per-pod HTTP server (run in the pod netns by node).
//	agent resolve look a name up over UDP or TCP against one DNS server.
//	agent chroot-run  bind-mount volumes into a rootfs, chroot, exec (node).
//
// It is deliberately small: one image, configMap/hostPath/token volumes
// only, an HTTP readiness probe, no restarts, no liveness probes.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: agent node|serve|resolve|chroot-run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "node":
		err = runNode(os.Args[2:])
	case "serve":
		err = runServe(os.Args[2:])
	case "resolve":
		err = runResolve(os.Args[2:])
	case "chroot-run":
		err = runChroot(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

// runServe: agent serve NAME PORT... — HTTP on every PORT answering "NAME\n".
func runServe(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: agent serve NAME PORT [PORT]")
	}
	name := args[0]
	errc := make(chan error, len(args)-1)
	for _, p := range args[1:] {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			return err
		}
		go func() {
			errc <- http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintln(w, name)
			}))
		}()
	}
	return <-errc
}

// runResolve: agent resolve [--tcp] SERVER NAME — prints the addresses of NAME.
func runResolve(args []string) error {
	network := "udp"
	if len(args) > 0 && args[0] == "--tcp" {
		network, args = "tcp", args[1:]
	}
	if len(args) != 2 {
		return fmt.Errorf("usage: agent resolve [--tcp] SERVER NAME")
	}
	server := args[0]
	if !strings.Contains(server, ":") {
		server += ":53"
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, args[1])
	if err != nil {
		return err
	}
	fmt.Printf("%s (%s via %s) -> %s\n", args[1], strings.ToUpper(network), server, strings.Join(addrs, " "))
	return nil
}

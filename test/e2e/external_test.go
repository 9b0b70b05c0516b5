package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// External IPs, load balancers, source-IP preservation, health-check node
// ports and the VIP port filter (issue #9 items 10, 11, 13), seen from the
// external client namespace "ext" (192.168.50.1) through node1 (192.168.50.2).

const (
	extIPCluster = "192.168.50.100" // externalIP, externalTrafficPolicy Cluster
	extIPLocal   = "192.168.50.101" // externalIP, externalTrafficPolicy Local
	lbIP         = "192.168.50.102" // load-balancer ingress IP (status patched by hand)
)

// fromExt fetches url once from the ext namespace: the whole body (or
// "ERR ...").
func fromExt(t *testing.T, url string) string {
	t.Helper()
	got, err := inNS(context.Background(), "ext", url, 1)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, "\n")
}

// pollExt polls url from ext until ok(body) holds.
func pollExt(t *testing.T, url, what string, ok func(string) bool) string {
	t.Helper()
	var last string
	if err := poll(timeout, func() error {
		last = fromExt(t, url)
		if !ok(last) {
			return fmt.Errorf("%s: got %q", what, last)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s from ext: %v", url, err)
	}
	return last
}

func extRoute(t *testing.T, dst string) {
	t.Helper()
	if out, err := sh("ip", "-n", "ext", "route", "replace", dst, "via", nodeAddr1); err != nil {
		t.Fatalf("route %s: %v %s", dst, err, out)
	}
}

// TestExternalIPSourceIP: an externalIP answers from outside; with
// externalTrafficPolicy Cluster the pod sees the node's address
// (masqueraded), with Local it sees the client's own address.
func TestExternalIPSourceIP(t *testing.T) {
	need(t)
	all := podIPs("pod-a", "pod-b", "pod-c")
	apply(t, sliceYAML("ext-cluster", all...))
	apply(t, serviceYAML("ext-cluster", "ClusterIP", 80, 0, "\n  externalIPs: [\""+extIPCluster+"\"]"))
	apply(t, sliceYAML("ext-local", all...))
	apply(t, serviceYAML("ext-local", "ClusterIP", 80, 0, "\n  externalIPs: [\""+extIPLocal+"\"]\n  externalTrafficPolicy: Local"))
	extRoute(t, extIPCluster+"/32")
	extRoute(t, extIPLocal+"/32")

	answers(t, "ext", "http://"+extIPCluster+"/", allPods...)
	answers(t, "ext", "http://"+extIPLocal+"/", allPods...)
	src := pollExt(t, "http://"+extIPLocal+"/source", "source seen by the pod", func(b string) bool { return !strings.HasPrefix(b, "ERR") })
	if src != extAddr1 {
		t.Errorf("externalTrafficPolicy Local: the pod saw %s, want the client's %s", src, extAddr1)
	}
	src = pollExt(t, "http://"+extIPCluster+"/source", "source seen by the pod", func(b string) bool { return !strings.HasPrefix(b, "ERR") })
	if src == extAddr1 {
		t.Errorf("externalTrafficPolicy Cluster: the pod saw the client's own %s, want it masqueraded", src)
	}
	t.Logf("source seen by the pod: Local %s, Cluster %s", extAddr1, src)
}

// TestLoadBalancerHealthCheck: a LoadBalancer Service with
// externalTrafficPolicy Local and an ingress IP: the LB IP answers and keeps
// the client's address; the healthCheckNodePort answers from outside the
// node with 200 and the local endpoint count in kube-proxy's JSON, and 503
// once no endpoint is on this node.
func TestLoadBalancerHealthCheck(t *testing.T) {
	need(t)
	apply(t, sliceYAML("lb-local", podIPs("pod-a", "pod-b")...))
	apply(t, serviceYAML("lb-local", "LoadBalancer", 80, 0, "\n  externalTrafficPolicy: Local"))
	if out, err := kubectl("", "patch", "service", "lb-local", "--subresource=status", "--type=merge",
		"-p", `{"status":{"loadBalancer":{"ingress":[{"ip":"`+lbIP+`"}]}}}`); err != nil {
		t.Fatalf("patch status: %v %s", err, out)
	}
	hc := jsonpath(t, "service/lb-local", "{.spec.healthCheckNodePort}")
	extRoute(t, lbIP+"/32")

	answers(t, "ext", "http://"+lbIP+"/", "pod-a", "pod-b")
	if src := fromExt(t, "http://"+lbIP+"/source"); src != extAddr1 {
		t.Errorf("load balancer with externalTrafficPolicy Local: the pod saw %s, want %s", src, extAddr1)
	}
	url := "http://" + nodeAddr1 + ":" + hc + "/"
	body := pollExt(t, url, "health check", func(b string) bool { return strings.Contains(b, `"localEndpoints": 2`) })
	t.Logf("health check %s: %s", url, body)
	if !strings.Contains(body, `"name": "lb-local"`) || !strings.Contains(body, `"serviceProxyHealthy": true`) {
		t.Errorf("health check body %q", body)
	}
	code := func() int {
		resp, err := plainClient.Get("http://" + nodeAddr1 + ":" + hc + "/")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := code(); c != http.StatusOK {
		t.Errorf("health check status %d, want 200", c)
	}
	// The endpoints move off this node (no nodeName: not local).
	apply(t, sliceYAMLOn("", "lb-local", podIPs("pod-a", "pod-b")...))
	if err := poll(timeout, func() error {
		if c := code(); c != http.StatusServiceUnavailable {
			return fmt.Errorf("status %d", c)
		}
		return nil
	}); err != nil {
		t.Errorf("health check without local endpoints: %v, want 503", err)
	}
}

// TestVIPNoHostPorts: a host socket (the kubelet's 10250, sshd's 22) is
// reachable on the node's address but not through a ClusterIP, which still
// serves its Service port.
func TestVIPNoHostPorts(t *testing.T) {
	ip, _ := web(t)
	extRoute(t, ip+"/32")
	for _, port := range []string{"22", "10250"} {
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			t.Fatalf("host socket on %s: %v", port, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "host") })}
		go srv.Serve(l) //nolint:errcheck
		defer srv.Close()

		if got := fromExt(t, "http://"+nodeAddr1+":"+port+"/"); got != "host" {
			t.Fatalf("host socket %s on the node address: %q", port, got)
		}
		answers(t, "ext", "http://"+ip+":80/", allPods...)
		got := fromExt(t, "http://"+ip+":"+port+"/")
		if !strings.HasPrefix(got, "ERR") || !strings.Contains(got, "refused") {
			t.Errorf("host port %s through ClusterIP %s: %q, want connection refused", port, ip, got)
		}
	}
}

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proofs that connections outlive changes (graceful termination, issue #10):
// TestDrain (with a kill -9 restart while draining), TestUDPEndpointReplaced.

// keptConn is one long-lived HTTP/1.1 keep-alive connection.
type keptConn struct {
	conn *net.TCPConn
	r    *bufio.Reader
}

func dialKept(t *testing.T, ns, addr string) *keptConn {
	t.Helper()
	var c net.Conn
	if err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s from %q: %v", addr, or(ns, "node"), err)
	}
	return &keptConn{conn: c.(*net.TCPConn), r: bufio.NewReader(c)}
}

// get sends one request on the connection and returns the body.
func (k *keptConn) get() (string, error) {
	_ = k.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(k.conn, "GET / HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// reset closes the connection with a RST (SO_LINGER 0): IPVS moves its
// entry to CLOSE (10 s) instead of TIME_WAIT (2 min).
func (k *keptConn) reset() {
	_ = k.conn.SetLinger(0)
	_ = k.conn.Close()
}

// rstClientIn makes one connection per request, in network namespace ns
// ("" = this one), and closes it with a RST, so the request loop's own
// connections do not pin a draining server for IPVS's TIME_WAIT. local is
// set to each connection's local address as it is made. A request fails
// when it gets no answer within 30 s: under TCG on a loaded host a guest
// stalls for seconds (answers took up to 10 s, before any change too), so a
// slow answer is reported (loopResult.slow), not counted as a failure; a
// dropped SYN would show there as 1 s, 3 s, 7 s.
func rstClientIn(ns string, local *atomic.Value) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := inNetns(ns, func() (err error) {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				if err == nil {
					_ = c.(*net.TCPConn).SetLinger(0)
					local.Store(c.LocalAddr().String())
				}
				return c, err
			},
		},
	}
}

// loopResult is what a request loop saw: answers counted by body ("ERR"
// for failures), each failure (time, local address if connected, IPVS
// entries of that address then), the slowest answered request and the
// answers that took over a second (start time and duration).
type loopResult struct {
	counts  map[string]int
	errs    []string
	slowest time.Duration
	slow    []string
}

// requestLoop fetches url on new connections until stop is called.
func requestLoop(url string) (stop func() loopResult) {
	return requestLoopIn("", url)
}

// requestLoopIn is requestLoop from network namespace ns.
func requestLoopIn(ns, url string) (stop func() loopResult) {
	var local atomic.Value
	client := rstClientIn(ns, &local)
	var mu sync.Mutex
	res := loopResult{counts: map[string]int{}}
	var done atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for !done.Load() {
			body := ""
			local.Store("")
			start := time.Now()
			resp, err := client.Get(url)
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				body, err = strings.TrimSpace(string(b)), rerr
			}
			took := time.Since(start)
			mu.Lock()
			if err != nil {
				res.counts["ERR"]++
				l := local.Load().(string)
				res.errs = append(res.errs, fmt.Sprintf("%s (started %s, local %q, IPVS entries %q)",
					err, start.Format("15:04:05.000"), l, connEntries(or(l, "none"))))
			} else {
				res.counts[body]++
				res.slowest = max(res.slowest, took)
				if took > time.Second {
					res.slow = append(res.slow, fmt.Sprintf("%s %s %s", start.Format("15:04:05.000"), took.Round(time.Millisecond), body))
				}
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() loopResult {
		done.Store(true)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return res
	}
}

// rsWeight is the weight of real server rs (IP:port) of TCP virtual server
// vs in `ipvsadm -Sn`, or "" if it is not there.
func rsWeight(t *testing.T, vs, rs string) string {
	t.Helper()
	out, err := sh("ipvsadm", "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "-a -t " + vs + " -r " + rs + " "
	for _, l := range lines(out) {
		if strings.HasPrefix(l, prefix) {
			f := strings.Fields(l)
			return f[len(f)-1]
		}
	}
	return ""
}

func waitWeight(t *testing.T, vs, rs, want string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := poll(timeout, func() error {
		if got := rsWeight(t, vs, rs); got != want {
			return fmt.Errorf("real server %s of %s: weight %q, want %q", rs, vs, got, want)
		}
		return nil
	}); err != nil {
		listVS(t, vs)
		t.Fatal(err)
	}
	return time.Since(start)
}

func listVS(t *testing.T, vs string) {
	t.Helper()
	out, _ := sh("ipvsadm", "-Ln", "-t", vs)
	t.Logf("ipvsadm -Ln -t %s:\n%s", vs, strings.TrimRight(out, "\n"))
}

// connEntries are the `ipvsadm -Lnc` lines that mention s.
func connEntries(s string) []string {
	out, _ := sh("ipvsadm", "-Lnc")
	var l []string
	for _, line := range lines(out) {
		if strings.Contains(line, s) {
			l = append(l, line)
		}
	}
	return l
}

func deleteService(t *testing.T, name string) {
	t.Cleanup(func() {
		_, _ = kubectl("", "delete", "--ignore-not-found", "service/"+name, "endpointslice/"+name+"-1")
	})
}

// TestDrain: keep-alive connections to pod-a through a ClusterIP and a
// NodePort; pod-a's endpoint is replaced by pod-b's while a request loop
// runs against the ClusterIP. The loop never fails, pod-a's real servers
// stay at weight 0 and the kept connections still get answers from pod-a;
// ipvs-proxy is killed with SIGKILL and restarted while they drain: they
// stay at weight 0; once the connection is closed, the real server goes.
func TestDrain(t *testing.T) {
	need(t)
	deleteService(t, "drain")
	apply(t, sliceYAML("drain", podIPs("pod-a")...)+"---\n"+serviceYAML("drain", "NodePort", 83, 30083, ""))
	ip := jsonpath(t, "service/drain", "{.spec.clusterIP}")
	vsIP, vsNP1, vsNP2 := ip+":83", nodeAddr1+":30083", nodeAddr2+":30083"
	rsA, rsB := fmt.Sprintf("10.244.0.11:%d", podPort), fmt.Sprintf("10.244.0.12:%d", podPort)
	for _, vs := range []string{vsIP, vsNP1, vsNP2} {
		waitWeight(t, vs, rsA, "1")
	}

	kIP := dialKept(t, "", vsIP)
	defer kIP.reset()
	kNP := dialKept(t, "ext", vsNP1)
	defer kNP.reset()
	for name, k := range map[string]*keptConn{"clusterIP": kIP, "nodePort": kNP} {
		if got, err := k.get(); err != nil || got != "pod-a" {
			t.Fatalf("kept %s connection %s: %q %v, want pod-a", name, k.conn.LocalAddr(), got, err)
		}
	}
	t.Logf("kept connections: %s -> %s and (ext) %s -> %s, both answered by pod-a",
		kIP.conn.LocalAddr(), vsIP, kNP.conn.LocalAddr(), vsNP1)

	stop := requestLoop("http://" + vsIP + "/")
	time.Sleep(time.Second)
	start := time.Now()
	apply(t, sliceYAML("drain", podIPs("pod-b")...))
	waitWeight(t, vsIP, rsB, "1")
	for _, vs := range []string{vsIP, vsNP1} {
		waitWeight(t, vs, rsA, "0")
	}
	// No connection went through the second node address: deleted at once.
	waitWeight(t, vsNP2, rsA, "")
	t.Logf("pod-a -> pod-b programmed %s after the apply started: pod-b weight 1, pod-a weight 0 on %s and %s (connections), gone from %s (none)",
		time.Since(start).Round(time.Millisecond), vsIP, vsNP1, vsNP2)
	listVS(t, vsIP)
	listVS(t, vsNP1)
	time.Sleep(2 * time.Second) // the loop runs on against pod-b
	r := stop()
	counts, errs := r.counts, r.errs
	t.Logf("request loop over the change (new connection each): %v", counts)
	if counts["ERR"] != 0 {
		t.Errorf("request loop: %d failures: %v", counts["ERR"], errs)
	}
	if counts["pod-b"] == 0 {
		t.Error("request loop: pod-b never answered after the change")
	}
	for name, k := range map[string]*keptConn{"clusterIP": kIP, "nodePort": kNP} {
		if got, err := k.get(); err != nil || got != "pod-a" {
			t.Errorf("kept %s connection after the change: %q %v, want pod-a", name, got, err)
		} else {
			t.Logf("kept %s connection still answered by pod-a after the change", name)
		}
	}
	for _, vs := range []string{vsIP, vsNP1} {
		if w := rsWeight(t, vs, rsA); w != "0" {
			t.Errorf("%s: pod-a weight %q while its connection is open, want 0", vs, w)
		}
	}

	// kill -9 while pod-a drains, then start again: it stays at weight 0
	// (weight 0 and not desired = draining), is not re-added at weight 1,
	// not deleted while its connections are open.
	_ = proxy.Process.Kill() // SIGKILL
	<-proxyDone
	killed := time.Now()
	if err := startProxy(); err != nil {
		t.Fatal(err)
	}
	t.Logf("ipvs-proxy killed with SIGKILL while pod-a drains, restarted and healthy %s later (log %s)",
		time.Since(killed).Round(time.Millisecond), proxyLog())
	restarted := time.Now()
	for time.Since(restarted) < 6*time.Second { // more than a drainCheckPeriod (5 s)
		for _, vs := range []string{vsIP, vsNP1} {
			if w := rsWeight(t, vs, rsA); w != "0" {
				listVS(t, vs)
				t.Fatalf("%s after the restart: pod-a weight %q on %s, want 0 (draining)", time.Since(restarted).Round(time.Millisecond), w, vs)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	listVS(t, vsIP)
	for name, k := range map[string]*keptConn{"clusterIP": kIP, "nodePort": kNP} {
		if got, err := k.get(); err != nil || got != "pod-a" {
			t.Errorf("kept %s connection after the restart: %q %v, want pod-a", name, got, err)
		} else {
			t.Logf("kept %s connection still answered by pod-a after the restart; pod-a stayed at weight 0 for %s after it", name, time.Since(restarted).Round(time.Second))
		}
	}

	// The ClusterIP connection ends with a RST: IPVS keeps its entry in
	// CLOSE (10 s); the NodePort one with a FIN: shown, not waited for. It
	// ends in TIME_WAIT (2 min), which tcpfin (FIN_WAIT, as
	// --ipvs-tcp-fin-timeout) does not shorten: shown with tcpfin set to 5 s.
	if old, err := sh("ipvsadm", "-L", "--timeout"); err == nil {
		var tcp, fin, udp int
		if _, err := fmt.Sscanf(strings.TrimSpace(old), "Timeout (tcp tcpfin udp): %d %d %d", &tcp, &fin, &udp); err == nil {
			defer func() { _, _ = sh("ipvsadm", "--set", fmt.Sprint(tcp), fmt.Sprint(fin), fmt.Sprint(udp)) }()
			if _, err := sh("ipvsadm", "--set", "0", "5", "0"); err != nil {
				t.Log(err)
			}
			t.Logf("IPVS timeouts were %q; tcpfin set to 5 s", strings.TrimSpace(old))
		}
	}
	local := kIP.conn.LocalAddr().String()
	kIP.reset()
	npLocal := kNP.conn.LocalAddr().String()
	_ = kNP.conn.Close()
	closed := time.Now()
	time.Sleep(500 * time.Millisecond)
	t.Logf("IPVS entries after the RST of %s: %q", local, connEntries(local))
	t.Logf("IPVS entries after the FIN of %s: %q", npLocal, connEntries(npLocal))
	if err := poll(timeout, func() error {
		if w := rsWeight(t, vsIP, rsA); w != "" {
			return fmt.Errorf("pod-a still a real server of %s (weight %s); entries %q", vsIP, w, connEntries(rsA))
		}
		return nil
	}); err != nil {
		listVS(t, vsIP)
		t.Fatal(err)
	}
	t.Logf("pod-a's real server of %s gone %s after its last connection was reset (restarted proxy; drainCheckPeriod 5s + IPVS CLOSE 10s)",
		vsIP, time.Since(closed).Round(time.Millisecond))
	if w := rsWeight(t, vsNP1, rsA); w != "" {
		t.Logf("%s: pod-a still draining at weight %s after the FIN close: entries %q", vsNP1, w, connEntries(npLocal))
	}
}

const udpPort = 5353

// udpEcho answers every datagram with the pod's name, from a socket in the
// pod's network namespace.
func udpEcho(t *testing.T, pod string) {
	t.Helper()
	var c *net.UDPConn
	if err := inNetns(pod, func() (err error) {
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: udpPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP([]byte(pod), from)
		}
	}()
}

func udpYAML(name string, addrs ...string) string {
	var eps strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&eps, "- addresses: [%q]\n  conditions: {ready: true}\n  nodeName: %s\n", a, nodeName)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: default
spec:
  ports:
  - name: dns
    protocol: UDP
    port: 53
    targetPort: %[2]d
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  namespace: default
  labels:
    kubernetes.io/service-name: %[1]s
addressType: IPv4
ports:
- name: dns
  protocol: UDP
  port: %[2]d
endpoints:
%[3]s`, name, udpPort, eps.String())
}

// TestUDPEndpointReplaced: a UDP client on a fixed source port asks a
// ClusterIP every 50 ms; its only endpoint (pod-b) is replaced by pod-c:
// answers come from pod-c within one sync (the old flow's IPVS and
// conntrack entries are removed with the real server).
func TestUDPEndpointReplaced(t *testing.T) {
	need(t)
	udpEcho(t, "pod-b")
	udpEcho(t, "pod-c")
	deleteService(t, "udp")
	apply(t, udpYAML("udp", podIPs("pod-b")...))
	ip := jsonpath(t, "service/udp", "{.spec.clusterIP}")
	vip := &net.UDPAddr{IP: net.ParseIP(ip), Port: 53}
	c, err := net.DialUDP("udp", &net.UDPAddr{Port: 40053}, vip)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func() string {
		_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Write([]byte("q")); err != nil {
			time.Sleep(50 * time.Millisecond)
			return "ERR " + err.Error()
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return "ERR " + err.Error()
		}
		return string(buf[:n])
	}
	// until waits for answer want, counting the others.
	until := func(want string) (time.Duration, map[string]int) {
		start := time.Now()
		seen := map[string]int{}
		for time.Since(start) < timeout {
			a := ask()
			if a == want {
				return time.Since(start), seen
			}
			if strings.HasPrefix(a, "ERR") {
				a = "no answer"
			}
			seen[a]++
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no answer from %s in %s (other answers %v)", want, timeout, seen)
		return 0, nil
	}
	d, _ := until("pod-b")
	t.Logf("client %s -> %s answered by pod-b (%s after the Service was applied)", c.LocalAddr(), vip, d.Round(time.Millisecond))
	for i := 0; i < 5; i++ {
		if a := ask(); a != "pod-b" {
			t.Fatalf("steady state: answer %q, want pod-b", a)
		}
	}
	t.Logf("IPVS entries of the flow: %q", connEntries(":40053"))
	start := time.Now()
	apply(t, udpYAML("udp", podIPs("pod-c")...))
	applied := time.Since(start)
	d, others := until("pod-c")
	t.Logf("endpoint pod-b -> pod-c: the same client (source port 40053) answered by pod-c %s after kubectl apply returned (%s after it started: kubectl itself is slow under TCG); answers before %v",
		d.Round(time.Millisecond), (applied + d).Round(time.Millisecond), others)
	for i := 0; i < 5; i++ {
		if a := ask(); a != "pod-c" {
			t.Errorf("after the change: answer %q, want pod-c", a)
		}
	}
	t.Logf("IPVS entries of the flow after the change: %q", connEntries(":40053"))
}

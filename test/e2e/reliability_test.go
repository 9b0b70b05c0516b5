package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Reliability proofs (issue #8): a bad endpoint is skipped and named while
// the rest keeps converging; tampering with our kernel state is repaired by
// the rolling audit (the suite runs ipvs-proxy with --audit-period 10s),
// the hand-made virtual servers untouched.

// TestReliabilityMulticastEndpoint: the API accepts the EndpointSlice
// endpoint 239.1.1.1; ipvs-proxy skips it (one Warning SyncProblem Event on
// the Service naming it), programs the other endpoints, keeps converging
// after a further change, and /healthz stays 200.
func TestReliabilityMulticastEndpoint(t *testing.T) {
	need(t)
	const mcast = "239.1.1.1"
	apply(t, sliceYAML("mcast", podIPs("pod-a")[0], mcast)+"---\n"+serviceYAML("mcast", "", 80, 0, ""))
	defer kubectl("", "delete", "--ignore-not-found", "service/mcast", "endpointslice/mcast-1")
	events := syncProblem(t, "mcast")
	if !strings.Contains(events, mcast) {
		t.Errorf("the Event does not name %s: %s", mcast, events)
	}
	if n := len(lines(events)); n != 1 {
		t.Errorf("%d SyncProblem Events on service mcast, want 1:\n%s", n, events)
	}
	ip := jsonpath(t, "service/mcast", "{.spec.clusterIP}")
	s := converge(t)
	rs := func(a string) string { return fmt.Sprintf("-a -t %s:80 -r %s:%d -m -w 1", ip, a, podPort) }
	if !slices.Contains(s.ipvs, rs("10.244.0.11")) {
		t.Errorf("the good endpoint is not a real server:\n%s", strings.Join(s.ipvs, "\n"))
	}
	for _, l := range s.ipvs {
		if strings.Contains(l, mcast) {
			t.Errorf("multicast endpoint programmed: %s", l)
		}
	}
	answers(t, "", "http://"+ip+":80/", "pod-a")
	// A further change still converges.
	apply(t, sliceYAML("mcast", podIPs("pod-a")[0], mcast, podIPs("pod-b")[0]))
	s = converge(t)
	if !slices.Contains(s.ipvs, rs("10.244.0.12")) {
		t.Errorf("the endpoint added later is not a real server:\n%s", strings.Join(s.ipvs, "\n"))
	}
	answers(t, "", "http://"+ip+":80/", "pod-a", "pod-b")
	ev, _ := kubectl("", "get", "events", "-n", "default",
		"--field-selector", "involvedObject.kind=Service,involvedObject.name=mcast,reason=SyncProblem",
		"-o", `jsonpath={range .items[*]}{.count} {.message}{"\n"}{end}`)
	t.Logf("SyncProblem Events after the further change (count message): %s", strings.TrimSpace(ev))
	healthy(t)
	checkForeign(t)
}

// healthy checks /livez 200 and /healthz "ready":true. /healthz itself
// answers 503 in this suite: it also needs this node's Node object (node
// eligibility, as kube-proxy), which the suite does not create.
func healthy(t *testing.T) {
	t.Helper()
	resp, err := plainClient.Get("http://" + healthz + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/livez: %s, want 200", resp.Status)
	}
	resp, err = plainClient.Get("http://" + healthz + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"ready":true`) {
		t.Errorf("/healthz: %s %s, want \"ready\":true", resp.Status, b)
	}
	t.Logf("/livez: 200; /healthz: %s %s (no Node object: nodeEligible false)", resp.Status, b)
}

// auditRepairs returns the times of the "audit repaired drift" lines of
// the current ipvs-proxy log.
func auditRepairs(t *testing.T) []time.Time {
	t.Helper()
	b, err := os.ReadFile(proxyLog())
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, l := range lines(string(b)) {
		if !strings.Contains(l, `msg="audit repaired drift"`) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			out = append(out, at)
		}
	}
	return out
}

// fields splits an iptables-save line into arguments ("..." quoted).
func fields(l string) []string {
	var out []string
	var cur strings.Builder
	quoted, in := false, false
	for _, r := range l {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestReliabilityTampering deletes, one at a time, pieces of our kernel
// state behind ipvs-proxy's back and measures how long the rolling audit
// takes to bring the kernel back to the plan; after each the hand-made
// virtual servers must be untouched.
func TestReliabilityTampering(t *testing.T) {
	ip, _ := web(t)
	want := converge(t)
	rsLine := fmt.Sprintf("-r %s:%d", podIPs("pod-a")[0], podPort)
	// ruleArgs turns an iptables-save line "-A CHAIN args" of table into
	// the iptables -D arguments.
	ruleArgs := func(t *testing.T, table string, match func(string) bool) []string {
		t.Helper()
		out, err := sh("iptables-save", "-t", table)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines(out) {
			if strings.HasPrefix(l, "-A ") && match(l) {
				return append([]string{"iptables", "-t", table, "-D"}, fields(l)[1:]...)
			}
		}
		t.Fatalf("no rule to delete in table %s", table)
		return nil
	}
	steps := []struct {
		what   string
		tamper func(t *testing.T) []string
	}{
		{"delete a virtual server", func(t *testing.T) []string {
			return []string{"ipvsadm", "-D", "-t", ip + ":80"}
		}},
		{"delete a real server", func(t *testing.T) []string {
			return []string{"ipvsadm", "-d", "-t", ip + ":80", "-r", podIPs("pod-a")[0] + ":" + fmt.Sprint(podPort)}
		}},
		{"flush a ledger set (IPVS-PROXY-CLUSTER-IP)", func(t *testing.T) []string {
			return []string{"ipset", "flush", "IPVS-PROXY-CLUSTER-IP"}
		}},
		{"delete a rule", func(t *testing.T) []string {
			return ruleArgs(t, "nat", func(l string) bool { return strings.HasPrefix(l, "-A IPVS-PROXY-") })
		}},
		{"delete a jump", func(t *testing.T) []string {
			return ruleArgs(t, "nat", func(l string) bool {
				return !strings.HasPrefix(l, "-A IPVS-PROXY-") && strings.Contains(l, "-j IPVS-PROXY-")
			})
		}},
		{"remove a dummy address", func(t *testing.T) []string {
			return []string{"ip", "addr", "del", ip + "/32", "dev", "kube-ipvs0"}
		}},
	}
	// A ledger set cannot be destroyed behind our back: each is referenced
	// by one of our rules, and the kernel refuses (in use).
	for _, set := range []string{"IPVS-PROXY-CLUSTER-IP", "IPVS-PROXY-NODE-PORT", "IPVS-PROXY-EXTERNAL-IP", "IPVS-PROXY-LOAD-BALANCER"} {
		if _, err := sh("ipset", "destroy", set); err == nil {
			t.Errorf("ipset destroy %s succeeded: a ledger set not referenced by a rule", set)
		} else {
			t.Logf("destroy a ledger set: the kernel refuses: %v", err)
		}
	}
	var summary []string
	for _, st := range steps {
		t.Run(strings.ReplaceAll(st.what, " ", "-"), func(t *testing.T) {
			argv := st.tamper(t)
			before := len(auditRepairs(t))
			start := time.Now()
			if argv != nil {
				if _, err := sh(argv...); err != nil {
					t.Fatal(err)
				}
				t.Logf("tampered: %s", strings.Join(argv, " "))
			}
			var got snapshot
			err := poll(90*time.Second, func() error {
				var err error
				if got, err = kernelState(); err != nil {
					return err
				}
				if d := want.diff(got); d != "" {
					return fmt.Errorf("%s", d)
				}
				return nil
			})
			d := time.Since(start).Seconds()
			if err != nil {
				summary = append(summary, fmt.Sprintf("%s: NOT repaired", st.what))
				t.Fatalf("not repaired: %v", err)
			}
			line := fmt.Sprintf("repair: %s: %.1f s to converged", st.what, d)
			if r := auditRepairs(t); len(r) > before {
				line += fmt.Sprintf(" (audit repaired it after %.1f s)", r[before].Sub(start).Seconds())
			} else if !strings.Contains(st.what, "rule") && !strings.Contains(st.what, "jump") {
				// Rules are re-checked by the audit's host step, which
				// does not count them as drift (no log line).
				t.Errorf("no \"audit repaired drift\" line in %s", proxyLog())
			}
			t.Log(line)
			summary = append(summary, line)
			if !slices.ContainsFunc(got.ipvs, func(l string) bool { return strings.Contains(l, rsLine) }) {
				t.Errorf("real server %s missing after the repair", rsLine)
			}
			checkForeign(t)
		})
	}
	t.Logf("tampering summary (auditPeriod 10s):\n%s", strings.Join(summary, "\n"))
	answers(t, "", "http://"+ip+":80/", allPods...)
	healthy(t)
}

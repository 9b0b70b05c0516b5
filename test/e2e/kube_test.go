package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kubectl runs kubectl as admin with stdin; it returns stdout.
func kubectl(stdin string, args ...string) (string, error) {
	return kubectlWithin(timeout, stdin, args...)
}

// kubectlWithin is kubectl killed after d.
func kubectlWithin(d time.Duration, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
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

func apply(t *testing.T, yaml string) {
	t.Helper()
	if _, err := kubectl(yaml, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

func jsonpath(t *testing.T, obj, path string) string {
	t.Helper()
	out, err := kubectl("", "get", obj, "-o", "jsonpath="+path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// serviceYAML is a Service; typ "" means ClusterIP. nodePort 0 lets the
// API server pick one (for NodePort).
func serviceYAML(name, typ string, port, nodePort int, extra string) string {
	if typ == "" {
		typ = "ClusterIP"
	}
	np := ""
	if nodePort != 0 {
		np = fmt.Sprintf("\n    nodePort: %d", nodePort)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: default
spec:
  type: %s%s
  ports:
  - name: http
    protocol: TCP
    port: %d
    targetPort: %d%s
`, name, typ, extra, port, podPort, np)
}

// sliceYAML is the EndpointSlice NAME-1 of Service NAME with ready
// endpoints on this node (the pods are network namespaces of the node):
// like the EndpointSlice controller's, they carry nodeName, which hairpin
// and the Local policies read.
func sliceYAML(name string, addrs ...string) string { return sliceYAMLOn(nodeName, name, addrs...) }

// sliceYAMLOn is sliceYAML with the endpoints on node ("": no nodeName, so
// on no node of ours).
func sliceYAMLOn(node, name string, addrs ...string) string {
	var eps strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&eps, "- addresses: [%q]\n  conditions: {ready: true}\n", a)
		if node != "" {
			fmt.Fprintf(&eps, "  nodeName: %s\n", node)
		}
	}
	if len(addrs) == 0 {
		eps.WriteString("[]\n")
	}
	return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-1
  namespace: default
  labels:
    kubernetes.io/service-name: %s
addressType: IPv4
ports:
- name: http
  protocol: TCP
  port: %d
endpoints:
%s`, name, name, podPort, eps.String())
}

func podIPs(names ...string) []string {
	var out []string
	for _, n := range names {
		for _, p := range pods {
			if p.name == n {
				out = append(out, p.ip)
			}
		}
	}
	return out
}

// podIPs6 is podIPs for the pods' IPv6 addresses.
func podIPs6(names ...string) []string {
	var out []string
	for _, n := range names {
		for _, p := range pods {
			if p.name == n {
				out = append(out, p.ip6)
			}
		}
	}
	return out
}

// --- kernel state vs plan ---------------------------------------------------

// snapshot is the node's state in the shape of `ipvs-proxy plan`'s sections.
type snapshot struct {
	ipvs, addrs, members, rules []string
}

func (s snapshot) String() string {
	return fmt.Sprintf("# ipvs\n%s\n# addresses\n%s\n# members\n%s\n# rules\n%s\n",
		strings.Join(s.ipvs, "\n"), strings.Join(s.addrs, "\n"), strings.Join(s.members, "\n"), strings.Join(s.rules, "\n"))
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// isForeign tells whether an `ipvsadm -Sn` line belongs to a virtual server
// made by hand.
func isForeign(line string) bool {
	f := strings.Fields(line)
	return len(f) >= 3 && slices.ContainsFunc(foreignVSs, func(v struct{ vs, rs string }) bool { return v.vs == f[2] })
}

// ipvsadmOurs is `ipvsadm -Sn` without the hand-made virtual servers and
// without draining real servers: a removed TCP endpoint with connections
// stays at weight 0 until IPVS counts none (graceful termination), and the
// plan (the desired state) never has one.
func ipvsadmOurs() ([]string, error) {
	out, err := sh("ipvsadm", "-Sn")
	if err != nil {
		return nil, err
	}
	var ours []string
	for _, l := range lines(out) {
		if !isForeign(l) && !draining(l) {
			ours = append(ours, l)
		}
	}
	return ours, nil
}

// draining tells whether an `ipvsadm -Sn` line is a real server at weight 0.
func draining(line string) bool {
	return strings.HasPrefix(line, "-a ") && strings.HasSuffix(line, " -w 0")
}

// chainRules keeps our lines of iptables-save output or of the plan's
// iptables-restore input: "<table> <line>", chain counters dropped, the
// plan's "# -A OUTPUT ..." jump comments as rules.
func chainRules(text string) []string { return chainRulesOf("", text) }

// chainRulesOf is chainRules with each table named prefix+table ("ip6 "
// for ip6tables).
func chainRulesOf(prefix, text string) []string {
	var out []string
	table := ""
	for _, l := range lines(text) {
		if strings.HasPrefix(l, "*") {
			table = prefix + l[1:]
			continue
		}
		l = strings.TrimPrefix(l, "# ")
		if strings.HasPrefix(l, "-I ") { // the plan's jumps, inserted first
			l = "-A " + l[len("-I "):]
		}
		if !strings.Contains(l, "IPVS-PROXY") && !strings.Contains(l, "ipvs-proxy") {
			continue
		}
		if !strings.HasPrefix(l, "-A ") && !strings.HasPrefix(l, ":") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			l = strings.Fields(l)[0]
		}
		out = append(out, table+" "+l)
	}
	slices.Sort(out)
	return out
}

func kernelState() (snapshot, error) {
	var s snapshot
	var err error
	if s.ipvs, err = ipvsadmOurs(); err != nil {
		return s, err
	}
	out, err := sh("ip", "-o", "addr", "show", "dev", "kube-ipvs0")
	if err != nil {
		return s, err
	}
	for _, l := range lines(out) {
		f := strings.Fields(l)
		i := slices.Index(f, "inet")
		if i < 0 {
			i = slices.Index(f, "inet6")
		}
		if i >= 0 && i+1 < len(f) && !strings.HasPrefix(f[i+1], "fe80:") {
			s.addrs = append(s.addrs, f[i+1])
		}
	}
	slices.Sort(s.addrs)
	if out, err = sh("ipset", "save"); err != nil {
		return s, err
	}
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "add IPVS-PROXY-") || strings.HasPrefix(l, "add IPVS-PROXY6-") {
			s.members = append(s.members, l)
		}
	}
	slices.Sort(s.members)
	if out, err = sh("iptables-save"); err != nil {
		return s, err
	}
	s.rules = chainRules(out)
	if out, err = sh("ip6tables-save"); err != nil {
		return s, err
	}
	s.rules = append(s.rules, chainRulesOf("ip6 ", out)...)
	slices.Sort(s.rules)
	return s, nil
}

var planSeq int

// planState dumps the API's Services and EndpointSlices and runs
// `ipvs-proxy plan` on them.
func planState(t *testing.T) snapshot {
	t.Helper()
	// Three minutes: a dump of a thousand objects has taken over one in
	// the TCG guest while ipvs-proxy ran a cold sync.
	objs, err := kubectlWithin(3*timeout, "", "get", "services,endpointslices", "-A", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	planSeq++
	file := filepath.Join(env.artifacts, fmt.Sprintf("objects-%02d-%s.yaml", planSeq, strings.ReplaceAll(t.Name(), "/", "_")))
	if err := os.WriteFile(file, []byte(objs), 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(env.proxyBin, "plan", "-f", file,
		"--node-name", nodeName, "--node-addresses", nodeAddrs,
		"--cluster-cidr", clusterCIDRs, "--node-port-addresses", nodePortAddrs)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("ipvs-proxy plan: %v: %s", err, errb.String())
	}
	if errb.Len() > 0 {
		t.Logf("plan notes: %s", strings.TrimSpace(errb.String()))
	}
	_ = os.WriteFile(strings.TrimSuffix(file, ".yaml")+".plan", out.Bytes(), 0o644)
	var s snapshot
	section := 0
	var rules, rules6 strings.Builder
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "# addresses on"):
			section = 1
			continue
		case strings.HasPrefix(l, "# ipset members"):
			section = 2
			continue
		case strings.HasPrefix(l, "# iptables-restore"):
			section = 3
			continue
		case strings.HasPrefix(l, "# ip6tables-restore"):
			section = 4
			continue
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		switch section {
		case 0:
			s.ipvs = append(s.ipvs, l)
		case 1:
			s.addrs = append(s.addrs, strings.TrimSpace(l))
		case 2:
			s.members = append(s.members, strings.TrimSpace(l))
		case 3:
			rules.WriteString(l + "\n")
		case 4:
			rules6.WriteString(l + "\n")
		}
	}
	slices.Sort(s.addrs)
	slices.Sort(s.members)
	s.rules = append(chainRules(rules.String()), chainRulesOf("ip6 ", rules6.String())...)
	slices.Sort(s.rules)
	return s
}

func diff(name string, want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s differ:\n", name)
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  missing: %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  stale:   %s\n", g)
		}
	}
	if !strings.Contains(b.String(), "  ") {
		fmt.Fprintf(&b, "  order: want\n%s\n  got\n%s\n", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	return b.String()
}

func (s snapshot) diff(got snapshot) string {
	return diff("ipvsadm -Sn", s.ipvs, got.ipvs) + diff("kube-ipvs0 addresses", s.addrs, got.addrs) +
		diff("ipset members", s.members, got.members) + diff("iptables rules", s.rules, got.rules)
}

// converge waits until the kernel holds exactly what plan computes from
// the API's current objects, and returns that state.
func converge(t *testing.T) snapshot {
	t.Helper()
	return convergeIgnoring(t)
}

// without drops the lines holding any of the strings.
func without(l []string, ignore []string) []string {
	return slices.DeleteFunc(slices.Clone(l), func(s string) bool {
		return slices.ContainsFunc(ignore, func(i string) bool {
			return strings.Contains(s, " "+i+":") || strings.Contains(s, " "+i+",") || strings.HasPrefix(s, i+"/") ||
				strings.HasSuffix(s, " "+i) // a hash:ip member (the VIPs set)
		})
	})
}

func (s snapshot) without(ignore []string) snapshot {
	return snapshot{without(s.ipvs, ignore), without(s.addrs, ignore), without(s.members, ignore), s.rules}
}

// convergeIgnoring is converge ignoring what concerns the addresses ignore.
func convergeIgnoring(t *testing.T, ignore ...string) snapshot {
	t.Helper()
	return convergeWithin(t, timeout, ignore...)
}

// convergeWithin is convergeIgnoring waiting up to d (large states).
func convergeWithin(t *testing.T, d time.Duration, ignore ...string) snapshot {
	t.Helper()
	want := planState(t).without(ignore)
	var got snapshot
	start := time.Now()
	err := poll(d, func() error {
		var err error
		if got, err = kernelState(); err != nil {
			return err
		}
		got = got.without(ignore)
		if d := want.diff(got); d != "" {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kernel state did not converge to the plan: %v", err)
	}
	t.Logf("converged in %s (after the API dump)", time.Since(start).Round(time.Millisecond))
	return got
}

// answers polls url from namespace ns ("" = the node itself) until every
// name in want has answered; it returns the answers counted by body.
func answers(t *testing.T, ns, url string, want ...string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	var last []string
	err := poll(timeout, func() error {
		var bodies []string
		if ns == "" {
			for range 6 {
				b, err := httpGet(url)
				if err != nil {
					b = "ERR " + err.Error()
				}
				bodies = append(bodies, b)
			}
		} else {
			var err error
			if bodies, err = inNS(context.Background(), ns, url, 6); err != nil {
				return err
			}
		}
		last = bodies
		for _, b := range bodies {
			seen[b]++
		}
		for _, w := range want {
			if seen[w] == 0 {
				return fmt.Errorf("%s not seen yet; answers so far %v, last %q", w, seen, bodies)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s from %q: %v", url, or(ns, "node"), err)
	}
	t.Logf("%s from %s: %v (last round %q)", url, or(ns, "node"), seen, last)
	return seen
}

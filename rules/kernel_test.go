package rules

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// These tests run the Kernel against the real iptables-restore and
// iptables-save in a fresh named network namespace (ip netns add), which has
// its own, empty netfilter tables and ipsets. The Kernel reaches the
// namespace through Config.Prefix ("ip netns exec NAME"), so no thread of the
// test process ever changes namespace. They skip unless run as root with ip,
// ipset and the iptables tools, and with ip_set available to create sets.

var netnsSeq atomic.Int32

// kernelNS is a network namespace with the ipsets of spec() created.
type kernelNS struct {
	t      *testing.T
	name   string
	log    string // one line per command the Kernel ran
	prefix []string
}

func newKernelNS(t *testing.T, f Family) *kernelNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test: needs root (run the test binary as root, e.g. in hack/sandbox)")
	}
	for _, bin := range []string{"ip", "ipset", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("kernel test: %s not installed", bin)
		}
	}
	n := &kernelNS{t: t, name: fmt.Sprintf("ipvsproxy-rules-%d-%d", os.Getpid(), netnsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("kernel test: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	if out, err := n.exec("ipset", "create", "probe", "hash:ip,port"); err != nil {
		t.Skipf("kernel test: ip_set not available: %v: %s", err, out)
	}
	n.run("ipset", "destroy", "probe")
	s := spec(f)
	fam := string(f)
	n.run("ipset", "create", s.ClusterIPSet, "hash:ip,port", "family", fam)
	n.run("ipset", "create", s.NodePortSet, "hash:ip,port", "family", fam)
	n.run("ipset", "create", s.HairpinSet, "hash:ip,port,ip", "family", fam)

	// The Kernel runs its commands through a script that logs them.
	dir := t.TempDir()
	n.log = filepath.Join(dir, "log")
	wrapper := filepath.Join(dir, "logexec")
	script := "#!/bin/sh\necho \"$*\" >> " + n.log + "\nexec \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n.prefix = []string{wrapper, "ip", "netns", "exec", n.name}
	return n
}

func (n *kernelNS) exec(argv ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", n.name}, argv...)...).CombinedOutput()
}

// run runs argv in the namespace and fails the test if it fails.
func (n *kernelNS) run(argv ...string) string {
	n.t.Helper()
	out, err := n.exec(argv...)
	if err != nil {
		n.t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// commands returns the tools the Kernel ran since the last call, e.g.
// ["iptables-save", "iptables-restore"].
func (n *kernelNS) commands() []string {
	n.t.Helper()
	b, err := os.ReadFile(n.log)
	if err != nil && !os.IsNotExist(err) {
		n.t.Fatal(err)
	}
	os.Remove(n.log)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			out = append(out, f[4]) // after "ip netns exec NAME"
		}
	}
	return out
}

func count(list []string, suffix string) int {
	n := 0
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			n++
		}
	}
	return n
}

func TestKernel(t *testing.T) {
	// Both backends explicitly; Backend "" only runs the alternatives'
	// choice (nft on Debian 12) under the plain names (see TestBin).
	for _, backend := range []string{"nft", "legacy"} {
		for _, f := range []Family{IPv4, IPv6} {
			t.Run(backend+"/"+string(f), func(t *testing.T) { testKernel(t, backend, f) })
		}
	}
}

func testKernel(t *testing.T, backend string, f Family) {
	n := newKernelNS(t, f)
	k, err := New(Config{Backend: backend, Prefix: n.prefix})
	if err != nil {
		t.Skipf("kernel test: backend %q: %v", backend, err)
	}
	ipt, cidr, foreignSrc := "iptables", "10.244.0.0/16", "192.0.2.1/32"
	if f == IPv6 {
		ipt, cidr, foreignSrc = "ip6tables", "fd00:10:244::/56", "2001:db8::1/128"
	}
	if backend != "" {
		ipt += "-" + backend
	}
	save := func() string { return n.run(ipt + "-save") }
	foreign := "-A PREROUTING -s " + foreignSrc + " -m comment --comment foreign -j ACCEPT"
	n.run(ipt, "-t", "nat", "-A", "PREROUTING", "-s", foreignSrc, "-m", "comment", "--comment", "foreign", "-j", "ACCEPT")
	n.commands()

	apply := func(rs Ruleset) {
		t.Helper()
		if err := k.Apply(rs); err != nil {
			t.Fatalf("Apply: %v\n%s", err, rs)
		}
	}
	expect := func(want Ruleset) {
		t.Helper()
		got, err := k.Dump(f)
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Dump:\n%s\nwant:\n%s\niptables-save:\n%s", got, want, save())
		}
		if s := save(); strings.Count(s, foreign+"\n") != 1 {
			t.Fatalf("the foreign rule is gone or duplicated:\n%s", s)
		}
	}

	// Apply, Dump, compare: one restore, one save per table.
	s := spec(f, cidr, "10.96.0.0/12", "fd00:10:96::/112")
	rs := For(s)
	apply(rs)
	if cmds := n.commands(); count(cmds, "-restore") != 1 || count(cmds, "-save") != len(managedTables) {
		t.Errorf("Apply ran %q, want a save per managed table and one restore", cmds)
	}
	expect(rs)
	n.commands()

	// Again: nothing to do, no restore, no duplicate jump.
	apply(rs)
	if cmds := n.commands(); count(cmds, "-restore") != 0 {
		t.Errorf("unchanged Apply ran %q", cmds)
	}
	expect(rs)
	if got := save(); strings.Count(got, "-j "+ServicesChain+"\n") != 2 ||
		strings.Index(got, foreign) < strings.Index(got, "-A PREROUTING -m comment --comment \"ipvs-proxy service portals\"") {
		t.Errorf("want one PREROUTING and one OUTPUT jump, inserted before the foreign rule:\n%s", got)
	}

	// Someone inserts a rule at the top of PREROUTING (a firewall's early
	// ACCEPT): Dump reports our jump buried, and Apply moves it first again,
	// leaving the other rule in place.
	n.run(ipt, "-t", "nat", "-I", "PREROUTING", "1", "-s", foreignSrc, "-m", "comment", "--comment", "early", "-j", "ACCEPT")
	got, err := k.Dump(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Tables[0].Buried; len(b) != 1 || b[0].Chain != "PREROUTING" {
		t.Errorf("Dump after an early foreign rule: buried %v, want the PREROUTING jump", b)
	}
	apply(rs)
	expect(rs)
	early := "-A PREROUTING -s " + foreignSrc + " -m comment --comment early -j ACCEPT"
	if got := save(); strings.Count(got, early+"\n") != 1 ||
		strings.Index(got, early) < strings.Index(got, "-A PREROUTING -m comment --comment \"ipvs-proxy service portals\"") {
		t.Errorf("want our PREROUTING jump moved before the early rule, which stays:\n%s", got)
	}

	// The other local-traffic detectors round-trip through iptables-save
	// too: no CIDR (src,dst), a bridge, an interface prefix.
	for _, iface := range []string{"", "cni0", "veth+"} {
		d := spec(f)
		d.LocalInterface = iface
		apply(For(d))
		expect(For(d))
	}

	// Another bit and masquerade-all: chains are replaced, not appended to.
	apply(rs)
	s.MasqueradeBit, s.MasqueradeAll = 14, true
	rs = For(s)
	apply(rs)
	expect(rs)

	// A duplicated jump and a stale chain of ours with a jump into it go away.
	jump := rs.Tables[0].Jumps[2] // PREROUTING
	words, err := fields(jump.Rule)
	if err != nil {
		t.Fatal(err)
	}
	n.run(append([]string{ipt, "-t", "nat", "-A", jump.Chain}, words...)...)
	n.run(ipt, "-t", "nat", "-N", "IPVS-PROXY-STALE")
	n.run(ipt, "-t", "nat", "-A", "IPVS-PROXY-STALE", "-j", "RETURN")
	n.run(ipt, "-t", "nat", "-A", "OUTPUT", "-j", "IPVS-PROXY-STALE")
	apply(rs)
	expect(rs)
	if got := save(); strings.Contains(got, "STALE") {
		t.Errorf("stale chain left:\n%s", got)
	}

	// A missing set fails the whole restore and changes nothing.
	bad := For(Spec{Family: f, MasqueradeBit: 3, MasqueradeAll: true, ClusterIPSet: "NO-SUCH-SET", NodePortSet: s.NodePortSet, HairpinSet: s.HairpinSet})
	if err := k.Apply(bad); err == nil || !strings.Contains(err.Error(), "input line") {
		t.Errorf("Apply with a missing set: %v, want an error quoting the line", err)
	}
	expect(rs)

	// The empty ruleset removes everything of ours, and only that.
	apply(Ruleset{Family: f})
	expect(Ruleset{Family: f})
	if got := save(); strings.Contains(got, ChainPrefix) {
		t.Errorf("left after cleanup:\n%s", got)
	}
}

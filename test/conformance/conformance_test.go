package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// dump reads the kernel state of network namespace ns.
func dump(ns string) (Dump, error) {
	ipvsadm, err := inNS(ns, "ipvsadm", "-Sn")
	if err != nil {
		return nil, err
	}
	addrs, _ := inNS(ns, "ip", "-o", "addr", "show", "dev", dummy) // no link yet: no addresses
	sets, err := inNS(ns, "ipset", "save")
	if err != nil {
		return nil, err
	}
	return Parse(ipvsadm, addrs, sets), nil
}

// settled waits until both proxies hold sentinel and agree (up to the
// allowlist) twice in a row, or settle passes; it fails t with the last
// difference. It returns the result and the time it took.
func settled(t *testing.T, phase string, allow []Allow, sentinel string) Result {
	t.Helper()
	t0 := time.Now()
	var r Result
	var kp, ip Dump
	agreed, first := 0, time.Duration(0)
	for {
		var err error
		kp, err = dump(nsKP)
		if err == nil {
			ip, err = dump(nsIP)
		}
		if err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		r = Compare(kp, ip, allow)
		if r.OK() && slices.Contains(kp, sentinel) && slices.Contains(ip, sentinel) {
			if agreed == 0 {
				first = time.Since(t0)
			}
			agreed++
		} else {
			agreed = 0
		}
		if agreed == 2 || time.Since(t0) > settle {
			break
		}
		time.Sleep(5 * time.Second)
	}
	for name, d := range map[string]Dump{"kube-proxy": kp, "ipvs-proxy": ip} {
		_ = os.WriteFile(filepath.Join(env.art, phase+"-"+name+".txt"), []byte(strings.Join(d, "\n")+"\n"), 0o644)
	}
	_ = os.WriteFile(filepath.Join(env.art, phase+"-diff.txt"), []byte(r.String()+"# allowed\n"+strings.Join(r.Allowed, "\n")+"\n"), 0o644)
	t.Logf("%s: %d lines (kube-proxy) / %d (ipvs-proxy), %d allowed differences, %d not allowed; agreed after %.1fs, done after %.1fs",
		phase, len(kp), len(ip), len(r.Allowed), len(r.OnlyKubeProxy)+len(r.OnlyIPVSProxy), first.Seconds(), time.Since(t0).Seconds())
	if !slices.Contains(kp, sentinel) || !slices.Contains(ip, sentinel) {
		t.Errorf("%s: after %s, %q is missing (kube-proxy: %v, ipvs-proxy: %v); see %s",
			phase, settle, sentinel, slices.Contains(kp, sentinel), slices.Contains(ip, sentinel), env.art)
	}
	if !r.OK() {
		t.Errorf("%s: kube-proxy (-) and ipvs-proxy (+) differ beyond test/conformance/allowlist.yaml:\n%s", phase, r)
	}
	return r
}

// TestConformance applies the corpus, compares kube-proxy's kernel state
// with ipvs-proxy's, applies the changes and compares again.
func TestConformance(t *testing.T) {
	need(t)
	allow, err := LoadAllowlist("allowlist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shapes := corpus()
	var docs []string
	for _, s := range shapes {
		docs = append(docs, s.docs...)
	}
	all := strings.Join(docs, "---\n")
	_ = os.WriteFile(filepath.Join(env.art, "corpus.yaml"), []byte(all), 0o644)
	t0 := time.Now()
	if err := applyYAML(docs...); err != nil {
		t.Fatal(err)
	}
	for _, s := range shapes {
		if s.status != "" {
			if err := patchStatus(namespace, "service/"+s.name, s.status); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("corpus: %d Service shapes, %d objects, applied in %.1fs", len(shapes), len(docs), time.Since(t0).Seconds())
	if err := startProxies(); err != nil {
		t.Fatal(err)
	}
	used := make([]int, len(allow))
	count := func(r Result) {
		for i, n := range r.Used {
			used[i] += n
		}
	}
	// The last row's cluster IP: every earlier object was applied before it.
	count(settled(t, "corpus", allow, fmt.Sprintf("addr %s/32", cip(len(shapes)))))

	t1 := time.Now()
	for _, c := range changes() {
		if err := applyYAML(c.apply...); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		for _, obj := range c.delete {
			if err := remove(namespace, obj); err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
		}
		for name, patch := range c.status {
			if err := patchStatus(namespace, "service/"+name, patch); err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
		}
	}
	t.Logf("changes: %d applied in %.1fs", len(changes()), time.Since(t1).Seconds())
	// The last change's new external IP.
	count(settled(t, "changes", allow, "addr 192.168.110.140/32"))
	for i, a := range allow {
		if used[i] == 0 {
			t.Logf("allowlist entry %d (%s %q) matched nothing in this run", i+1, a.Side, a.Match)
		}
	}
	t.Logf("conformance: %d shapes, %d changes, %.1fs in all", len(shapes), len(changes()), time.Since(t0).Seconds())
}

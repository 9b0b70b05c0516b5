package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/cleanup"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

type noChains struct{}

func (noChains) RemoveChains(rules.Family, string, []string, bool) ([]string, error) { return nil, nil }

// `ipvs-proxy cleanup --dry-run` prints the plan and changes nothing; without
// --dry-run it prints the same plan and removes it.
func TestCleanupCommand(t *testing.T) {
	cleanEnv(t)
	iv, sets, links := ipvs.NewFake(), ipset.NewFake(), netif.NewFake()
	for _, s := range desired.AllSets() {
		if err := sets.Ensure(s); err != nil {
			t.Fatal(err)
		}
	}
	k := ipvs.Key{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.96.0.10"), Port: 80}
	for _, m := range ledger.Members(k) {
		if err := sets.Add(m.Set, m.Entry); err != nil {
			t.Fatal(err)
		}
	}
	foreign := ipvs.Key{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.96.0.99"), Port: 80}
	for _, key := range []ipvs.Key{k, foreign} {
		if err := iv.AddVirtualServer(ipvs.VirtualServer{Key: key, Scheduler: "rr"}); err != nil {
			t.Fatal(err)
		}
	}
	links.AddLink("kube-ipvs0", "dummy", k.Address, foreign.Address)
	old := openCleanupKernel
	defer func() { openCleanupKernel = old }()
	openCleanupKernel = func() (cleanup.Kernel, func(), error) {
		return cleanup.Kernel{IPVS: iv, Sets: sets, Links: links, Rules: rules.NewFake(), Chains: noChains{}}, func() {}, nil
	}

	var out, errOut bytes.Buffer
	if code := execute([]string{"cleanup", "--dry-run"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, s := range []string{"would remove (dry run)", "ipvsadm -D -t 10.96.0.10:80\n", "ip addr del 10.96.0.10/32 dev kube-ipvs0\n", "ipset destroy IPVS-PROXY-CLUSTER-IP\n"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("dry run output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "10.96.0.99") {
		t.Errorf("dry run would touch a foreign virtual server:\n%s", out.String())
	}
	if got := iv.String(); !strings.Contains(got, "10.96.0.10:80") {
		t.Fatalf("dry run changed IPVS:\n%s", got)
	}

	out.Reset()
	if code := execute([]string{"cleanup"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got, want := iv.String(), "-A -t 10.96.0.99:80 -s rr\n"; got != want {
		t.Errorf("IPVS after cleanup:\n%s\nwant:\n%s", got, want)
	}
	if len(sets.Sets()) != 0 {
		t.Errorf("sets left: %v", sets.Sets())
	}
	if !strings.HasSuffix(out.String(), "# done\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

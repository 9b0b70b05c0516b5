package rules

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// specExternal is spec(f) with the external sets named as desired names them.
func specExternal(f Family, cidrs ...string) Spec {
	s := spec(f, cidrs...)
	p := "IPVS-PROXY-"
	if f == IPv6 {
		p = "IPVS-PROXY6-"
		s.ClusterIPSet, s.NodePortSet, s.HairpinSet = p+"CLUSTER-IP", p+"NODE-PORT", p+"HAIRPIN"
	}
	s.External = ExternalSets{
		ExternalIP: p + "EXTERNAL-IP", ExternalIPLocal: p + "EXTERNAL-IP-LOCAL",
		LoadBalancer: p + "LOAD-BALANCER", LoadBalancerLocal: p + "LOAD-BALANCER-LOCAL",
		NodePortLocal: p + "NODE-PORT-LOCAL", LBFirewall: p + "LB-FW",
		LBSourceCIDR: p + "LB-SOURCE-CIDR", LBSourceIP: p + "LB-SOURCE-IP",
		HealthCheck: p + "HEALTH-CHECK", VIPs: p + "IPS",
	}
	return s
}

// setTypes maps each set of specExternal to its ipset type.
func setTypes(s Spec) map[string]string {
	x := s.External
	return map[string]string{
		s.ClusterIPSet: "hash:ip,port", s.NodePortSet: "hash:ip,port", s.HairpinSet: "hash:ip,port,ip",
		x.ExternalIP: "hash:ip,port", x.ExternalIPLocal: "hash:ip,port", x.LoadBalancer: "hash:ip,port",
		x.LoadBalancerLocal: "hash:ip,port", x.NodePortLocal: "hash:ip,port", x.LBFirewall: "hash:ip,port",
		x.LBSourceCIDR: "hash:ip,port,net", x.LBSourceIP: "hash:ip,port,ip", x.HealthCheck: "hash:ip,port", x.VIPs: "hash:ip",
	}
}

func TestForExternal(t *testing.T) {
	rs := For(specExternal(IPv4, "10.244.0.0/16"))
	if err := check(rs, nil); err != nil {
		t.Fatalf("check: %v", err)
	}
	if !reflect.DeepEqual(canonical(rs), rs) {
		t.Error("For is not canonical")
	}
	const mm = " -j IPVS-PROXY-MARK-MASQ"
	wantServices := []string{
		`! -s 10.244.0.0/16 -m comment --comment "ipvs-proxy: cluster IP traffic from outside the cluster CIDR" -m set --match-set IPVS-PROXY-CLUSTER-IP dst,dst` + mm,
		`-m comment --comment "ipvs-proxy: external IP traffic with externalTrafficPolicy Local keeps its source" -m set --match-set IPVS-PROXY-EXTERNAL-IP-LOCAL dst,dst -j RETURN`,
		`-m comment --comment "ipvs-proxy: external IP traffic" -m set --match-set IPVS-PROXY-EXTERNAL-IP dst,dst` + mm,
		`-m comment --comment "ipvs-proxy: load balancer traffic with externalTrafficPolicy Local keeps its source" -m set --match-set IPVS-PROXY-LOAD-BALANCER-LOCAL dst,dst -j RETURN`,
		`-m comment --comment "ipvs-proxy: load balancer traffic" -m set --match-set IPVS-PROXY-LOAD-BALANCER dst,dst` + mm,
		`-m comment --comment "ipvs-proxy: node port traffic with externalTrafficPolicy Local keeps its source" -m set --match-set IPVS-PROXY-NODE-PORT-LOCAL dst,dst -j RETURN`,
		`-m comment --comment "ipvs-proxy: node port traffic" -m set --match-set IPVS-PROXY-NODE-PORT dst,dst` + mm,
	}
	if got := chainRules(rs, "nat", ServicesChain); !reflect.DeepEqual(got, wantServices) {
		t.Errorf("SERVICES:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantServices, "\n"))
	}
	wantSR := []string{
		`-m comment --comment "ipvs-proxy: source in loadBalancerSourceRanges" -m set --match-set IPVS-PROXY-LB-SOURCE-CIDR dst,dst,src -j RETURN`,
		`-m comment --comment "ipvs-proxy: node-local source allowed by loadBalancerSourceRanges" -m set --match-set IPVS-PROXY-LB-SOURCE-IP dst,dst,src -j RETURN`,
		`-m comment --comment "ipvs-proxy: source outside loadBalancerSourceRanges" -j DROP`,
	}
	if got := chainRules(rs, "filter", SourceRangesChain); !reflect.DeepEqual(got, wantSR) {
		t.Errorf("SOURCE-RANGES:\n%s", strings.Join(got, "\n"))
	}
	vf := chainRules(rs, "filter", VIPFilterChain)
	if len(vf) != 5 || vf[4] != `-m comment --comment "ipvs-proxy: no service on this port of a service address" -m conntrack --ctstate NEW -m set --match-set IPVS-PROXY-IPS dst -j REJECT --reject-with icmp-port-unreachable` {
		t.Errorf("VIP-FILTER must end with the REJECT of new connections to the VIPs set:\n%s", strings.Join(vf, "\n"))
	}
	for _, set := range []string{"IPVS-PROXY-LOAD-BALANCER", "IPVS-PROXY-CLUSTER-IP", "IPVS-PROXY-EXTERNAL-IP", "IPVS-PROXY-HEALTH-CHECK"} {
		if !slices.Contains(vf[:4], "-m set --match-set "+set+" dst,dst -j RETURN") {
			t.Errorf("VIP-FILTER does not let %s through before the REJECT", set)
		}
	}
	if got := chainRules(rs, "filter", HealthCheckChain); len(got) != 1 || !strings.HasSuffix(got[0], "IPVS-PROXY-HEALTH-CHECK dst,dst -j ACCEPT") {
		t.Errorf("HEALTH-CHECK: %q", got)
	}
	var jumps []string
	for _, j := range rs.Tables[1].Jumps {
		jumps = append(jumps, j.Chain+" "+target(j.Rule))
	}
	wantJumps := []string{"FORWARD IPVS-PROXY-FIREWALL", "FORWARD IPVS-PROXY-FORWARD", "INPUT IPVS-PROXY-FIREWALL",
		"INPUT IPVS-PROXY-HEALTH-CHECK", "INPUT IPVS-PROXY-VIP-FILTER"}
	if !reflect.DeepEqual(jumps, wantJumps) {
		t.Errorf("filter jumps %q, want %q", jumps, wantJumps)
	}

	v6 := For(specExternal(IPv6))
	if got := chainRules(v6, "filter", VIPFilterChain); !strings.HasSuffix(got[len(got)-1], "-j REJECT --reject-with icmp6-port-unreachable") {
		t.Errorf("IPv6 REJECT: %q", got[len(got)-1])
	}
	if err := specExternal(IPv6).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	bad := specExternal(IPv4)
	bad.External.VIPs = "A-NAME-THAT-IS-FAR-TOO-LONG-FOR-IPSET"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "VIPs") {
		t.Errorf("Validate of a long VIPs set name: %v", err)
	}
}

// The Fake reports jumps buried under someone else's rule until the next
// Apply, as the kernel adapter does.
func TestFakeBury(t *testing.T) {
	f := NewFake()
	rs := For(specExternal(IPv4))
	if err := f.Apply(rs); err != nil {
		t.Fatal(err)
	}
	f.Bury(IPv4, "filter", "INPUT")
	got, _ := f.Dump(IPv4)
	if b := got.Tables[1].Buried; len(b) != 3 {
		t.Errorf("buried %v, want the three INPUT jumps", b)
	}
	if got.String() == rs.String() {
		t.Error("a Dump with buried jumps prints like For's rules")
	}
	if err := f.Apply(rs); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Dump(IPv4); !reflect.DeepEqual(got, rs) {
		t.Errorf("after Apply:\n%s\nwant:\n%s", got, rs)
	}
}

// TestKernelExternal applies the external chains to the real iptables (both
// backends, both families): Dump equals For (so every rule is spelled as
// iptables-save prints it), a second Apply changes nothing, and a firewall
// rule inserted on top of INPUT is moved below our jumps on the next Apply.
func TestKernelExternal(t *testing.T) {
	for _, backend := range []string{"nft", "legacy"} {
		for _, f := range []Family{IPv4, IPv6} {
			t.Run(backend+"/"+string(f), func(t *testing.T) {
				n := newKernelNS(t, f)
				k, err := New(Config{Backend: backend, Prefix: n.prefix})
				if err != nil {
					t.Skipf("kernel test: backend %q: %v", backend, err)
				}
				s := specExternal(f)
				for name, typ := range setTypes(s) {
					if _, err := n.exec("ipset", "list", "-n", name); err == nil {
						continue
					}
					n.run("ipset", "create", name, typ, "family", string(f))
				}
				rs := For(s)
				if err := k.Apply(rs); err != nil {
					t.Fatalf("Apply: %v\n%s", err, rs)
				}
				got, err := k.Dump(f)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, rs) {
					t.Fatalf("Dump:\n%s\nwant:\n%s", got, rs)
				}
				n.commands()
				if err := k.Apply(rs); err != nil {
					t.Fatal(err)
				}
				if cmds := n.commands(); count(cmds, "-restore") != 0 {
					t.Errorf("unchanged Apply ran %q", cmds)
				}
				ipt := "iptables-" + backend
				if f == IPv6 {
					ipt = "ip6tables-" + backend
				}
				n.run(ipt, "-I", "INPUT", "1", "-m", "comment", "--comment", "firewall", "-j", "ACCEPT")
				if err := k.Apply(rs); err != nil {
					t.Fatal(err)
				}
				save := n.run(ipt+"-save", "-t", "filter")
				var input []string
				for _, line := range strings.Split(save, "\n") {
					if strings.HasPrefix(line, "-A INPUT ") {
						input = append(input, line)
					}
				}
				if len(input) != 4 || !strings.Contains(input[3], "firewall") {
					t.Errorf("INPUT after Apply: our three jumps first, then the firewall's rule:\n%s", strings.Join(input, "\n"))
				}
			})
		}
	}
}

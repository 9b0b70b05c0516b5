package rules

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func spec(f Family, cidrs ...string) Spec {
	s := Spec{Family: f, MasqueradeBit: DefaultMasqueradeBit,
		ClusterIPSet: "IPVS-PROXY-CLUSTER-IP", NodePortSet: "IPVS-PROXY-NODE-PORT", HairpinSet: "IPVS-PROXY-HAIRPIN"}
	for _, c := range cidrs {
		s.ClusterCIDRs = append(s.ClusterCIDRs, netip.MustParsePrefix(c))
	}
	return s
}

func TestForTypical(t *testing.T) {
	got := For(spec(IPv4, "10.244.0.0/16"))
	want := Ruleset{Family: IPv4, Tables: []Table{
		{Name: "nat",
			Chains: []Chain{
				{Name: "IPVS-PROXY-MARK-MASQ", Rules: []string{"-j MARK --set-xmark 0x2000/0x2000"}},
				{Name: "IPVS-PROXY-POSTROUTING", Rules: []string{
					`-p tcp -m comment --comment "ipvs-proxy: a TCP connection picked up mid-stream keeps its addresses" -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN`,
					`-m comment --comment "ipvs-proxy: hairpin traffic" -m set --match-set IPVS-PROXY-HAIRPIN dst,dst,src -j MASQUERADE`,
					`-m mark ! --mark 0x2000/0x2000 -j RETURN`,
					`-j MARK --set-xmark 0x2000/0x0`,
					`-m comment --comment "ipvs-proxy: service traffic requiring SNAT" -j MASQUERADE --random-fully`,
				}},
				{Name: "IPVS-PROXY-SERVICES", Rules: []string{
					`! -s 10.244.0.0/16 -m comment --comment "ipvs-proxy: cluster IP traffic from outside the cluster CIDR" -m set --match-set IPVS-PROXY-CLUSTER-IP dst,dst -j IPVS-PROXY-MARK-MASQ`,
					`-m comment --comment "ipvs-proxy: node port traffic" -m set --match-set IPVS-PROXY-NODE-PORT dst,dst -j IPVS-PROXY-MARK-MASQ`,
				}},
			},
			Jumps: []Jump{
				{"OUTPUT", `-m comment --comment "ipvs-proxy service portals" -j IPVS-PROXY-SERVICES`},
				{"POSTROUTING", `-m comment --comment "ipvs-proxy postrouting rules" -j IPVS-PROXY-POSTROUTING`},
				{"PREROUTING", `-m comment --comment "ipvs-proxy service portals" -j IPVS-PROXY-SERVICES`},
			}},
		{Name: "filter",
			Chains: []Chain{{Name: "IPVS-PROXY-FORWARD", Rules: []string{
				`-m comment --comment "ipvs-proxy: forward marked service traffic" -m mark --mark 0x2000/0x2000 -j ACCEPT`,
				`-m comment --comment "ipvs-proxy: forward established service traffic" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
			}}},
			Jumps: []Jump{{"FORWARD", `-m comment --comment "ipvs-proxy forwarding rules" -j IPVS-PROXY-FORWARD`}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("For:\n%s\nwant:\n%s", got, want)
	}
	if !reflect.DeepEqual(canonical(got), got) {
		t.Errorf("For is not canonical")
	}
	if err := check(got, nil); err != nil {
		t.Errorf("check(For): %v", err)
	}
}

// chainRules returns the rules of the chain in table, or nil.
func chainRules(rs Ruleset, table, chain string) []string {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			if t.Name == table && c.Name == chain {
				return c.Rules
			}
		}
	}
	return nil
}

func TestForServices(t *testing.T) {
	const (
		nodePort = `-m comment --comment "ipvs-proxy: node port traffic" -m set --match-set IPVS-PROXY-NODE-PORT dst,dst -j IPVS-PROXY-MARK-MASQ`
		all      = `-m comment --comment "ipvs-proxy: masquerade all traffic to cluster IPs" -m set --match-set IPVS-PROXY-CLUSTER-IP dst,dst -j IPVS-PROXY-MARK-MASQ`
		srcDst   = `-m comment --comment "ipvs-proxy: node traffic from a cluster IP to a cluster IP" -m set --match-set IPVS-PROXY-CLUSTER-IP src,dst -j IPVS-PROXY-MARK-MASQ`
		bridge   = `! -i cni0 -m comment --comment "ipvs-proxy: cluster IP traffic not from a pod interface" -m set --match-set IPVS-PROXY-CLUSTER-IP dst,dst -j IPVS-PROXY-MARK-MASQ`
	)
	iface := func(s Spec, name string) Spec { s.LocalInterface = name; return s }
	from := func(cidr string) string {
		return "! -s " + cidr + ` -m comment --comment "ipvs-proxy: cluster IP traffic from outside the cluster CIDR" -m set --match-set IPVS-PROXY-CLUSTER-IP dst,dst -j IPVS-PROXY-MARK-MASQ`
	}
	masqAll := func(s Spec) Spec { s.MasqueradeAll = true; return s }
	for _, tc := range []struct {
		name string
		spec Spec
		want []string
	}{
		{"no cluster CIDR: masquerade node traffic from a cluster IP (src,dst) like kube-proxy", spec(IPv4), []string{srcDst, nodePort}},
		{"local interface wins over CIDRs", iface(spec(IPv4, "10.244.0.0/16"), "cni0"), []string{bridge, nodePort}},
		{"masquerade all wins over a local interface", masqAll(iface(spec(IPv4), "cni0")), []string{all, nodePort}},
		{"one CIDR", spec(IPv4, "10.244.0.0/16"), []string{from("10.244.0.0/16"), nodePort}},
		{"several CIDRs sorted, masked, deduplicated",
			spec(IPv4, "10.245.1.0/16", "10.244.0.0/16", "10.244.0.0/16", "192.168.0.0/24"),
			[]string{from("10.244.0.0/16"), from("10.245.0.0/16"), from("192.168.0.0/24"), nodePort}},
		{"masquerade all ignores CIDRs", masqAll(spec(IPv4, "10.244.0.0/16")), []string{all, nodePort}},
		{"masquerade all without CIDRs", masqAll(spec(IPv4)), []string{all, nodePort}},
		{"IPv4 drops IPv6 CIDRs", spec(IPv4, "fd00:10:244::/56", "10.244.0.0/16"), []string{from("10.244.0.0/16"), nodePort}},
		{"IPv6 drops IPv4 CIDRs", spec(IPv6, "10.244.0.0/16", "fd00:10:244::/56"), []string{from("fd00:10:244::/56"), nodePort}},
		{"IPv6 without its family's CIDR: src,dst", spec(IPv6, "10.244.0.0/16"), []string{srcDst, nodePort}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := For(tc.spec)
			if rs.Family != tc.spec.Family {
				t.Errorf("family %q, want %q", rs.Family, tc.spec.Family)
			}
			if got := chainRules(rs, "nat", ServicesChain); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("services:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestForMarkBit(t *testing.T) {
	for _, tc := range []struct {
		bit  int
		mark string
	}{{0, "0x1"}, {13, "0x2000"}, {14, "0x4000"}, {31, "0x80000000"}} {
		s := spec(IPv4)
		s.MasqueradeBit = tc.bit
		rs := For(s)
		m := tc.mark
		checks := map[string]string{
			MarkMasqChain:    "-j MARK --set-xmark " + m + "/" + m,
			PostroutingChain: "-m mark ! --mark " + m + "/" + m + " -j RETURN\n-j MARK --set-xmark " + m + "/0x0",
			ForwardChain:     "-m mark --mark " + m + "/" + m + " -j ACCEPT",
		}
		for chain, want := range checks {
			table := "nat"
			if chain == ForwardChain {
				table = "filter"
			}
			got := strings.Join(chainRules(rs, table, chain), "\n")
			for _, line := range strings.Split(want, "\n") {
				if !strings.Contains(got, line) {
					t.Errorf("bit %d: %s lacks %q:\n%s", tc.bit, chain, line, got)
				}
			}
		}
	}
}

func TestForSameForBothFamiliesButCIDRs(t *testing.T) {
	v4, v6 := For(spec(IPv4)), For(spec(IPv6))
	v6.Family = IPv4
	if !reflect.DeepEqual(v4, v6) {
		t.Errorf("without CIDRs IPv4 and IPv6 rules differ:\n%s\n%s", v4, v6)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := spec(IPv4, "10.244.0.0/16", "fd00::/64")
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, i := range []string{"cni0", "veth+", "cali+"} {
		s := ok
		s.LocalInterface = i
		if err := s.Validate(); err != nil {
			t.Errorf("local interface %q: %v", i, err)
		}
	}
	for name, mutate := range map[string]func(*Spec){
		"family":     func(s *Spec) { s.Family = "" },
		"bit -1":     func(s *Spec) { s.MasqueradeBit = -1 },
		"bit 32":     func(s *Spec) { s.MasqueradeBit = 32 },
		"cidr":       func(s *Spec) { s.ClusterCIDRs = append(s.ClusterCIDRs, netip.Prefix{}) },
		"empty set":  func(s *Spec) { s.NodePortSet = "" },
		"long set":   func(s *Spec) { s.HairpinSet = strings.Repeat("X", 32) },
		"blank set":  func(s *Spec) { s.ClusterIPSet = "A B" },
		"quoted set": func(s *Spec) { s.ClusterIPSet = `A"B` },
		"iface +":    func(s *Spec) { s.LocalInterface = "+" },
		"iface long": func(s *Spec) { s.LocalInterface = strings.Repeat("x", 16) },
		"iface sp":   func(s *Spec) { s.LocalInterface = "cni 0" },
	} {
		s := ok
		s.ClusterCIDRs = append([]netip.Prefix(nil), ok.ClusterCIDRs...)
		mutate(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, s)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"ipvs-proxy":   "ipvs-proxy",
		"a_B-9":        "a_B-9",
		"two words":    `"two words"`,
		"a:b":          `"a:b"`,
		`say "hi" \ '`: `"say \"hi\" \\ \'"`,
		"":             `""`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
		f, err := fields("-m comment --comment " + quote(in) + " -j X")
		if err != nil || f[3] != in {
			t.Errorf("fields does not undo quote(%q): %q %v", in, f, err)
		}
	}
}

// TestForMidStreamTCPNeverMasqueraded: a TCP connection that conntrack
// picks up mid-stream (its first packet in nat POSTROUTING is not a SYN)
// returns from IPVS-PROXY-POSTROUTING before any rule that could masquerade
// it, in both families and with every masquerade option, so it keeps the
// addresses it was established with (the takeover's reset kept connections).
func TestForMidStreamTCPNeverMasqueraded(t *testing.T) {
	want := `-p tcp -m comment --comment "ipvs-proxy: a TCP connection picked up mid-stream keeps its addresses" -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN`
	for _, f := range []Family{IPv4, IPv6} {
		for _, mod := range []func(*Spec){
			func(*Spec) {},
			func(s *Spec) { s.MasqueradeAll = true },
			func(s *Spec) { s.LocalInterface = "cni0" },
			func(s *Spec) { s.MasqueradeBit = 14 },
		} {
			s := spec(f)
			mod(&s)
			got := chainRules(For(s), "nat", PostroutingChain)
			if len(got) == 0 || got[0] != want {
				t.Errorf("%v: %s does not start with the mid-stream RETURN:\n%s", f, PostroutingChain, strings.Join(got, "\n"))
			}
			masq := 0
			for _, r := range got {
				if strings.Contains(r, "MASQUERADE") {
					masq++
				}
			}
			if masq == 0 {
				t.Errorf("%v: no MASQUERADE rule after the mid-stream RETURN:\n%s", f, strings.Join(got, "\n"))
			}
		}
	}
}

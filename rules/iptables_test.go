package rules

import (
	"strings"
	"testing"
)

func TestWriteChange(t *testing.T) {
	j := func(chain, target string) Jump { return Jump{chain, "-j " + target} }
	have := Table{Name: "nat",
		Chains: []Chain{
			{Name: "IPVS-PROXY-OLD", Rules: []string{"-j RETURN"}},
			{Name: "IPVS-PROXY-PINNED"},
			{Name: "IPVS-PROXY-SERVICES", Rules: []string{"-j RETURN"}},
		},
		Jumps: []Jump{
			j("OUTPUT", "IPVS-PROXY-OLD"),
			j("PREROUTING", "IPVS-PROXY-SERVICES"), j("PREROUTING", "IPVS-PROXY-SERVICES"), j("PREROUTING", "IPVS-PROXY-SERVICES"),
		},
	}
	want := Table{Name: "nat",
		Chains: []Chain{{Name: "IPVS-PROXY-SERVICES", Rules: []string{"-j ACCEPT"}}},
		Jumps:  []Jump{j("OUTPUT", "IPVS-PROXY-SERVICES"), j("PREROUTING", "IPVS-PROXY-SERVICES")},
	}
	var b strings.Builder
	writeChange(&b, want, have, map[string]bool{"IPVS-PROXY-PINNED": true})
	const golden = `*nat
:IPVS-PROXY-OLD - [0:0]
:IPVS-PROXY-PINNED - [0:0]
-D OUTPUT -j IPVS-PROXY-OLD
-D PREROUTING -j IPVS-PROXY-SERVICES
-D PREROUTING -j IPVS-PROXY-SERVICES
-D PREROUTING -j IPVS-PROXY-SERVICES
:IPVS-PROXY-SERVICES - [0:0]
-A IPVS-PROXY-SERVICES -j ACCEPT
-I OUTPUT 1 -j IPVS-PROXY-SERVICES
-I PREROUTING 1 -j IPVS-PROXY-SERVICES
-X IPVS-PROXY-OLD
COMMIT
`
	if b.String() != golden {
		t.Errorf("writeChange:\n%s\nwant:\n%s", b.String(), golden)
	}
}

// A chain whose jumps are right but buried under someone else's rule gets
// them deleted and inserted at the top again, in want's order; a chain whose
// jumps are right and first is not touched.
func TestWriteChangeMovesBuriedJumps(t *testing.T) {
	a := Jump{"INPUT", "-j IPVS-PROXY-A"}
	b := Jump{"INPUT", "-j IPVS-PROXY-B"}
	f := Jump{"FORWARD", "-j IPVS-PROXY-A"}
	chains := []Chain{{Name: "IPVS-PROXY-A"}, {Name: "IPVS-PROXY-B"}}
	want := Table{Name: "filter", Chains: chains, Jumps: []Jump{f, a, b}}
	have := Table{Name: "filter", Chains: chains, Jumps: []Jump{f, a, b}, Buried: []Jump{b}}
	var sb strings.Builder
	writeChange(&sb, want, have, nil)
	const golden = `*filter
-D INPUT -j IPVS-PROXY-A
-D INPUT -j IPVS-PROXY-B
:IPVS-PROXY-A - [0:0]
:IPVS-PROXY-B - [0:0]
-I INPUT 1 -j IPVS-PROXY-B
-I INPUT 1 -j IPVS-PROXY-A
COMMIT
`
	if sb.String() != golden {
		t.Errorf("writeChange:\n%s\nwant:\n%s", sb.String(), golden)
	}
	if got := movedChains(want, Table{Name: "filter", Chains: chains, Jumps: []Jump{f, a, b}}); len(got) != 0 {
		t.Errorf("movedChains of an unchanged table = %v", got)
	}
}

func TestFailedLine(t *testing.T) {
	in := "*nat\n:A - [0:0]\n-A A -m set --match-set X dst -j RETURN\nCOMMIT\n"
	for msg, want := range map[string]string{
		"iptables-restore v1.8.9 (nf_tables): Set X doesn't exist.\n\nError occurred at line: 3": ` (input line 3: -A A -m set --match-set X dst -j RETURN)`,
		"iptables-restore: line 2 failed":  " (input line 2: :A - [0:0])",
		"iptables-restore: line 99 failed": "",
		"something else":                   "",
	} {
		if got := failedLine(msg, in); got != want {
			t.Errorf("failedLine(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestNewRejectsBackend(t *testing.T) {
	if _, err := New(Config{Backend: "ebpf"}); err == nil {
		t.Error("New accepted backend ebpf")
	}
}

func TestApplyChecksFirst(t *testing.T) {
	k := &Kernel{cfg: Config{Prefix: []string{"/nonexistent/never-run"}}}
	rs := Ruleset{Family: IPv4, Tables: []Table{{Name: "nat", Chains: []Chain{{Name: "KUBE-SERVICES"}}}}}
	if err := k.Apply(rs); err == nil || !strings.Contains(err.Error(), "must start with") {
		t.Errorf("Apply of a foreign chain: %v", err)
	}
}

func TestBin(t *testing.T) {
	for _, tc := range []struct {
		backend string
		f       Family
		tool    string
		want    string
	}{
		{"", IPv4, "restore", "iptables-restore"},
		{"", IPv6, "save", "ip6tables-save"},
		{"nft", IPv4, "save", "iptables-nft-save"},
		{"legacy", IPv6, "restore", "ip6tables-legacy-restore"},
	} {
		k := &Kernel{cfg: Config{Backend: tc.backend}}
		if got := k.bin(tc.f, tc.tool); got != tc.want {
			t.Errorf("bin(%q, %s, %s) = %s, want %s", tc.backend, tc.f, tc.tool, got, tc.want)
		}
	}
}

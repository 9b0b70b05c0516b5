package rules

import (
	"strings"
	"testing"
)

const typicalText = `# iptables-restore --noflush
*nat
:IPVS-PROXY-MARK-MASQ - [0:0]
:IPVS-PROXY-POSTROUTING - [0:0]
:IPVS-PROXY-SERVICES - [0:0]
-A IPVS-PROXY-MARK-MASQ -j MARK --set-xmark 0x2000/0x2000
-A IPVS-PROXY-POSTROUTING -p tcp -m comment --comment "ipvs-proxy: a TCP connection picked up mid-stream keeps its addresses" -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN
-A IPVS-PROXY-POSTROUTING -m comment --comment "ipvs-proxy: hairpin traffic" -m set --match-set IPVS-PROXY-HAIRPIN dst,dst,src -j MASQUERADE
-A IPVS-PROXY-POSTROUTING -m mark ! --mark 0x2000/0x2000 -j RETURN
-A IPVS-PROXY-POSTROUTING -j MARK --set-xmark 0x2000/0x0
-A IPVS-PROXY-POSTROUTING -m comment --comment "ipvs-proxy: service traffic requiring SNAT" -j MASQUERADE --random-fully
-A IPVS-PROXY-SERVICES ! -s 10.244.0.0/16 -m comment --comment "ipvs-proxy: cluster IP traffic from outside the cluster CIDR" -m set --match-set IPVS-PROXY-CLUSTER-IP dst,dst -j IPVS-PROXY-MARK-MASQ
-A IPVS-PROXY-SERVICES -m comment --comment "ipvs-proxy: node port traffic" -m set --match-set IPVS-PROXY-NODE-PORT dst,dst -j IPVS-PROXY-MARK-MASQ
# jumps, inserted first in their chains and kept first:
# -I OUTPUT -m comment --comment "ipvs-proxy service portals" -j IPVS-PROXY-SERVICES
# -I POSTROUTING -m comment --comment "ipvs-proxy postrouting rules" -j IPVS-PROXY-POSTROUTING
# -I PREROUTING -m comment --comment "ipvs-proxy service portals" -j IPVS-PROXY-SERVICES
COMMIT
*filter
:IPVS-PROXY-FORWARD - [0:0]
-A IPVS-PROXY-FORWARD -m comment --comment "ipvs-proxy: forward marked service traffic" -m mark --mark 0x2000/0x2000 -j ACCEPT
-A IPVS-PROXY-FORWARD -m comment --comment "ipvs-proxy: forward established service traffic" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
# jumps, inserted first in their chains and kept first:
# -I FORWARD -m comment --comment "ipvs-proxy forwarding rules" -j IPVS-PROXY-FORWARD
COMMIT
`

func TestStringGolden(t *testing.T) {
	if got := For(spec(IPv4, "10.244.0.0/16")).String(); got != typicalText {
		t.Errorf("String:\n%s\nwant:\n%s", got, typicalText)
	}
}

func TestStringIPv6AndEmpty(t *testing.T) {
	got := For(spec(IPv6, "fd00:10:244::/56")).String()
	if !strings.HasPrefix(got, "# ip6tables-restore --noflush\n*nat\n") ||
		!strings.Contains(got, "\n-A IPVS-PROXY-SERVICES ! -s fd00:10:244::/56 -m comment") {
		t.Errorf("IPv6 String:\n%s", got)
	}
	if got, want := (Ruleset{Family: IPv4}).String(), "# iptables-restore --noflush\n"; got != want {
		t.Errorf("empty String = %q, want %q", got, want)
	}
}

// The String text is what iptables-save would print for our chains once the
// jump comments are uncommented: every rule line of String appears verbatim
// in the save format parseSave reads, and parses back to the same Ruleset.
func TestStringParsesBack(t *testing.T) {
	rs := For(spec(IPv4, "10.244.0.0/16", "10.96.0.0/12"))
	text := strings.ReplaceAll(rs.String(), "# -I ", "-A ")
	tables, err := parseSave(text)
	if err != nil {
		t.Fatal(err)
	}
	back := Ruleset{Family: IPv4}
	for _, name := range []string{"nat", "filter"} {
		back.Tables = append(back.Tables, tables[name].ours(name))
	}
	if got := canonical(back); got.String() != rs.String() {
		t.Errorf("parsed back:\n%s\nwant:\n%s", got, rs)
	}
}

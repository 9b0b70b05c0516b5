package conformance

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	kp := Parse(`-A -t 10.96.0.1:443 -s rr
-a -t 10.96.0.1:443 -r 192.168.70.2:6443 -m -w 1
`, `5: kube-ipvs0    inet 10.96.0.1/32 scope global kube-ipvs0\       valid_lft forever preferred_lft forever
5: kube-ipvs0    inet6 fd00:10:96::1/128 scope global \       valid_lft forever preferred_lft forever
5: kube-ipvs0    inet6 fe80::1/64 scope link \       valid_lft forever preferred_lft forever
`, `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-NODE-PORT-TCP 30080
add KUBE-NODE-PORT-UDP 30053
add KUBE-NODE-PORT-SCTP-HASH 192.168.70.2,sctp:30132
add KUBE-6-NODE-PORT-TCP 30080
add KUBE-HEALTH-CHECK-NODE-PORT 30500
add KUBE-6-LOAD-BALANCER-SOURCE-CID fd00::1,tcp:80,fd00::/64
add KUBE-LOOP-BACK 10.244.0.5,tcp:80,10.244.0.5
add SOMEONE-ELSE 1.2.3.4
`)
	want := Dump{
		"addr 10.96.0.1/32",
		"addr fd00:10:96::1/128",
		"ipvs -A -t 10.96.0.1:443 -s rr",
		"ipvs -a -t 10.96.0.1:443 -r 192.168.70.2:6443 -m -w 1",
		"set cluster-ip 10.96.0.1,tcp:443",
		"set hairpin 10.244.0.5,tcp:80,10.244.0.5",
		"set health-check tcp:30500",
		"set lb-source-cidr6 fd00::1,tcp:80,fd00::/64",
		"set node-port sctp:30132",
		"set node-port tcp:30080",
		"set node-port udp:30053",
		"set node-port6 tcp:30080",
		"set other:SOMEONE-ELSE 1.2.3.4",
	}
	if !slices.Equal(kp, want) {
		t.Errorf("Parse:\n%s\nwant:\n%s", strings.Join(kp, "\n"), strings.Join(want, "\n"))
	}
	ip := Parse("", "", `add IPVS-PROXY-NODE-PORT 192.168.70.2,tcp:30080
add IPVS-PROXY-NODE-PORT 192.168.70.3,tcp:30080
add IPVS-PROXY6-NODE-PORT fd00:70::2,tcp:30080
add IPVS-PROXY-HEALTH-CHECK 192.168.70.2,tcp:30500
add IPVS-PROXY6-LB-SOURCE-CIDR fd00::1,tcp:80,fd00::/64
`)
	want = Dump{
		"set health-check tcp:30500",
		"set lb-source-cidr6 fd00::1,tcp:80,fd00::/64",
		"set node-port tcp:30080",
		"set node-port6 tcp:30080",
	}
	if !slices.Equal(ip, want) {
		t.Errorf("Parse (ours):\n%s\nwant:\n%s", strings.Join(ip, "\n"), strings.Join(want, "\n"))
	}
}

func TestCompare(t *testing.T) {
	allow, err := ParseAllowlist([]byte(`
- side: kube-proxy
  match: '^set hairpin '
  reason: kube-proxy lists every local endpoint
`))
	if err != nil {
		t.Fatal(err)
	}
	kp := Dump{"ipvs -A -t 10.96.0.1:443 -s rr", "set hairpin 10.244.0.5,tcp:80,10.244.0.5", "set vips 10.96.0.1"}
	ip := Dump{"ipvs -A -t 10.96.0.1:443 -s rr", "set hairpin 10.244.0.6,tcp:80,10.244.0.6"}
	r := Compare(kp, ip, allow)
	if r.OK() {
		t.Fatal("OK with differences")
	}
	if got := r.String(); got != "- set vips 10.96.0.1\n+ set hairpin 10.244.0.6,tcp:80,10.244.0.6\n" {
		t.Errorf("String():\n%s", got)
	}
	if r.Used[0] != 1 || len(r.Allowed) != 1 {
		t.Errorf("Used %v, Allowed %q", r.Used, r.Allowed)
	}
	if r := Compare(kp[:1], ip[:1], nil); !r.OK() {
		t.Errorf("equal dumps differ: %s", r)
	}
}

func TestParseAllowlistErrors(t *testing.T) {
	_, err := ParseAllowlist([]byte(`
- side: both
  match: '('
- side: ipvs-proxy
  match: x
  reason: ok
  extra: no
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"extra"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = ParseAllowlist([]byte(`
- side: both
  match: '('
`))
	for _, want := range []string{`side "both"`, "no reason", "match"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestAllowlistFile keeps the checked-in allowlist valid.
func TestAllowlistFile(t *testing.T) {
	if _, err := LoadAllowlist("allowlist.yaml"); err != nil {
		t.Fatal(err)
	}
}

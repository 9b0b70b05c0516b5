package main

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePodCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    string // comma separated; "" with an error
		wantErr string
	}{
		{in: []string{"10.244.0.0/24"}, want: "10.244.0.0/24"},
		{in: []string{"10.244.0.0/24,fd00:10:244::/64"}, want: "10.244.0.0/24,fd00:10:244::/64"},
		{in: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, want: "10.244.1.0/24,fd00:10:244:1::/64"},
		{in: []string{"fd00:10:244:1::/64", "10.244.1.0/24"}, want: "fd00:10:244:1::/64,10.244.1.0/24"}, // IPv6 primary
		{in: []string{"10.244.1.7/24"}, want: "10.244.1.0/24"},                                          // masked
		{in: []string{" 10.244.0.0/24 , "}, want: "10.244.0.0/24"},
		{in: nil, wantErr: "required"},
		{in: []string{"10.244.0.0/24,10.245.0.0/24"}, wantErr: "of one family"},
		{in: []string{"fd00::/64", "fd01::/64"}, wantErr: "of one family"},
		{in: []string{"10.244.0.0"}, wantErr: "not a CIDR"},
		{in: []string{"10.244.0.0/31"}, wantErr: "too small"},
	} {
		got, err := parsePodCIDRs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parsePodCIDRs(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(strs(got), ",") != tc.want {
			t.Errorf("parsePodCIDRs(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestParseNodeIPs(t *testing.T) {
	got, err := parseNodeIPs([]string{"192.168.1.10,fd00:192:168:1::10"})
	if err != nil || strings.Join(strs(got), ",") != "192.168.1.10,fd00:192:168:1::10" {
		t.Errorf("dual-stack: %v, %v", got, err)
	}
	got, err = parseNodeIPs([]string{"::ffff:192.168.1.10"})
	if err != nil || strings.Join(strs(got), ",") != "192.168.1.10" {
		t.Errorf("mapped: %v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"192.168.1.10", "192.168.1.11"}, {"node-a"}} {
		if got, err := parseNodeIPs(bad); err == nil {
			t.Errorf("parseNodeIPs(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSlotAddrs(t *testing.T) {
	cidrs, err := parsePodCIDRs([]string{"10.244.2.0/24,fd00:10:244:2::/64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    uint32
		want string
	}{
		{1, "10.244.2.1,fd00:10:244:2::1"}, // the gateway
		{2, "10.244.2.2,fd00:10:244:2::2"},
		{254, "10.244.2.254,fd00:10:244:2::fe"},
	} {
		if got := strings.Join(strs(slotAddrs(cidrs, tc.n)), ","); got != tc.want {
			t.Errorf("slot %d: %s, want %s", tc.n, got, tc.want)
		}
	}
	// Carries across bytes.
	if got := nthAddr(netip.MustParsePrefix("10.0.0.0/8"), 0x1ff).String(); got != "10.0.1.255" {
		t.Errorf("nthAddr carry: %s", got)
	}
	if got := nthAddr(netip.MustParsePrefix("fd00::ff00/120"), 0x100).String(); got != "fd00::1:0" {
		t.Errorf("nthAddr carry (IPv6): %s", got)
	}
}

func TestPodSlots(t *testing.T) {
	for _, tc := range []struct {
		cidrs string
		want  uint32
	}{
		{"10.244.0.0/24", 254},                   // .255 is the broadcast address
		{"10.244.0.0/24,fd00:10:244::/64", 254},  // the smaller range decides
		{"fd00:10:244::/64", 65534},              // capped
		{"fd00:10:244::/120,10.244.0.0/16", 255}, // IPv6 has no broadcast
		{"10.244.0.0/30", 2},                     // one pod
	} {
		cidrs, err := parsePodCIDRs([]string{tc.cidrs})
		if err != nil {
			t.Fatal(err)
		}
		if got := podSlots(cidrs); got != tc.want {
			t.Errorf("podSlots(%s) = %d, want %d", tc.cidrs, got, tc.want)
		}
	}
}

func TestVethSteps(t *testing.T) {
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	render := func(steps [][]string) string {
		var b strings.Builder
		for _, s := range steps {
			b.WriteString(strings.Join(s, " ") + "\n")
		}
		return b.String()
	}
	// IPv4 only: the commands the agent ran before dual-stack.
	got := render(vethSteps("node-a", "web-1", "vpX", addrs("10.244.0.1"), addrs("10.244.0.2")))
	want := `ip netns add web-1
ip -n web-1 link set lo up
ip -n node-a link add vpX type veth peer name eth0 netns web-1
ip -n node-a addr add 10.244.0.1/32 dev vpX
ip -n node-a link set vpX up
ip -n node-a -4 route replace 10.244.0.2/32 dev vpX src 10.244.0.1
ip -n web-1 addr add 10.244.0.2/32 dev eth0
ip -n web-1 link set eth0 up
ip -n web-1 -4 route add 10.244.0.1 dev eth0
ip -n web-1 -4 route add default via 10.244.0.1 dev eth0 src 10.244.0.2
`
	if got != want {
		t.Errorf("IPv4:\n%s\nwant:\n%s", got, want)
	}
	got = render(vethSteps("node-a", "web-1", "vpX", addrs("10.244.0.1", "fd00:10:244::1"), addrs("10.244.0.2", "fd00:10:244::2")))
	want = `ip netns add web-1
ip -n web-1 link set lo up
ip -n node-a link add vpX type veth peer name eth0 netns web-1
ip -n node-a addr add 10.244.0.1/32 dev vpX
ip -n node-a addr add fd00:10:244::1/128 dev vpX nodad
ip -n node-a link set vpX up
ip -n node-a -4 route replace 10.244.0.2/32 dev vpX src 10.244.0.1
ip -n node-a -6 route replace fd00:10:244::2/128 dev vpX src fd00:10:244::1
ip -n web-1 addr add 10.244.0.2/32 dev eth0
ip -n web-1 addr add fd00:10:244::2/128 dev eth0 nodad
ip -n web-1 link set eth0 up
ip -n web-1 -4 route add 10.244.0.1 dev eth0
ip -n web-1 -4 route add default via 10.244.0.1 dev eth0 src 10.244.0.2
ip -n web-1 -6 route add fd00:10:244::1 dev eth0
ip -n web-1 -6 route add default via fd00:10:244::1 dev eth0 src fd00:10:244::2
`
	if got != want {
		t.Errorf("dual-stack:\n%s\nwant:\n%s", got, want)
	}
}

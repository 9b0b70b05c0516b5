package ipvs

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

func TestFormat(t *testing.T) {
	tunnel := rserver("192.0.2.7:80", 0)
	tunnel.Forwarding = Tunnel
	dr := rserver("10.244.1.1:8080", 2)
	dr.Forwarding = Route
	services := []Service{
		{VirtualServer: vserver(SCTP, "10.96.0.30:9999", "rr", 0), RealServers: []RealServer{rserver("10.244.3.3:9999", 1)}},
		{VirtualServer: vserver(TCP, "[fd00::a]:80", "rr", 0), RealServers: []RealServer{
			rserver("[fd00:244::10]:8080", 1), rserver("[fd00:244::9]:8080", 1),
		}},
		{VirtualServer: vserver(UDP, "10.96.0.10:53", "rr", 0), RealServers: []RealServer{
			rserver("10.244.2.2:53", 1), rserver("10.244.1.10:53", 1), rserver("10.244.1.9:53", 1),
		}},
		{VirtualServer: vserver(TCP, "10.96.0.10:53", "rr", 0)},
		{VirtualServer: vserver(TCP, "10.96.0.1:443", "sh", 10800), RealServers: []RealServer{
			rserver("192.168.1.10:6443", 1), dr, rserver("10.244.1.1:6443", 0), tunnel,
		}},
		{VirtualServer: vserver(TCP, "10.96.0.10:9153", "wlc", 0)},
		{VirtualServer: vserver(TCP, "192.168.1.10:30080", "rr", 0)},
		{VirtualServer: vserver(UDP, "[fd00::a]:53", "rr", 0)},
		{VirtualServer: vserver(TCP, "[fd00::a]:0", "rr", 300)},
	}
	orig := slices.Clone(services)
	origRS := slices.Clone(services[2].RealServers)

	// ipvsadm's order: IPv4 before IPv6, then protocol (tcp 6, udp 17,
	// sctp 132), then address by the sign of the 32-bit difference (so
	// 192.168.1.10 before 10.96.0.1, and 192.0.2.7 first among the real
	// servers of 10.96.0.1), then port.
	want := "" +
		"-A -t 192.168.1.10:30080 -s rr\n" +
		"-A -t 10.96.0.1:443 -s sh -p 10800\n" +
		"-a -t 10.96.0.1:443 -r 192.0.2.7:80 -i -w 0 --tun-type ipip\n" +
		"-a -t 10.96.0.1:443 -r 192.168.1.10:6443 -m -w 1\n" +
		"-a -t 10.96.0.1:443 -r 10.244.1.1:6443 -m -w 0\n" +
		"-a -t 10.96.0.1:443 -r 10.244.1.1:8080 -g -w 2\n" +
		"-A -t 10.96.0.10:53 -s rr\n" +
		"-A -t 10.96.0.10:9153 -s wlc\n" +
		"-A -u 10.96.0.10:53 -s rr\n" +
		"-a -u 10.96.0.10:53 -r 10.244.1.9:53 -m -w 1\n" +
		"-a -u 10.96.0.10:53 -r 10.244.1.10:53 -m -w 1\n" +
		"-a -u 10.96.0.10:53 -r 10.244.2.2:53 -m -w 1\n" +
		"-A --sctp-service 10.96.0.30:9999 -s rr\n" +
		"-a --sctp-service 10.96.0.30:9999 -r 10.244.3.3:9999 -m -w 1\n" +
		"-A -t [fd00::a]:0 -s rr -p 300\n" +
		"-A -t [fd00::a]:80 -s rr\n" +
		"-a -t [fd00::a]:80 -r [fd00:244::9]:8080 -m -w 1\n" +
		"-a -t [fd00::a]:80 -r [fd00:244::10]:8080 -m -w 1\n" +
		"-A -u [fd00::a]:53 -s rr\n"
	if got := Format(services); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	if !reflect.DeepEqual(services, orig) || !reflect.DeepEqual(services[2].RealServers, origRS) {
		t.Error("Format reordered its argument")
	}
	// The order of the input does not matter.
	slices.Reverse(services)
	if got := Format(services); got != want {
		t.Errorf("Format of reversed input:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatEmpty(t *testing.T) {
	if got := Format(nil); got != "" {
		t.Errorf("Format(nil) = %q", got)
	}
}

func TestIpvsadmCompareAddrs(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"10.0.0.1", "10.0.0.2", -1},
		{"10.0.0.2", "10.0.0.1", 1},
		{"10.96.0.1", "10.96.0.1", 0},
		{"127.255.255.255", "0.0.0.1", 1}, // difference just below 2^31
		{"192.168.0.1", "10.96.0.1", -1},  // difference above 2^31: wraps
		{"10.96.0.1", "192.168.0.1", 1},
		{"fd00::1", "fd00::2", -1},
		{"fd00::1:0:0:0", "fd00::2", 1}, // decided by the first differing word
		{"ffff::", "::1", -1},           // wraps in the first word
	} {
		a, b := netip.MustParseAddr(tt.a), netip.MustParseAddr(tt.b)
		if got := ipvsadmCompareAddrs(a, b); got != tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

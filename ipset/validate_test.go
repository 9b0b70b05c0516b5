package ipset

import (
	"net/netip"
	"testing"
)

func TestProtocolRoundTrip(t *testing.T) {
	for _, name := range []string{"tcp", "udp", "sctp", "47"} {
		n, err := protocolNumber(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := protocolName(n); got != name {
			t.Fatalf("protocolName(%d) = %q, want %q", n, got, name)
		}
	}
	for _, bad := range []string{"", "TCP", "quic", "0", "256"} {
		if _, err := protocolNumber(bad); err == nil {
			t.Fatalf("protocolNumber(%q) accepted", bad)
		}
	}
}

func TestValidateEntry(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		ok   bool
	}{
		{"v4", ep("10.0.0.1", "tcp", 80), true},
		{"v6", ep("fd00::1", "udp", 53), true},
		{"no IP", Entry{Protocol: "tcp", Port: 80}, false},
		{"zoned", ep("fe80::1%eth0", "tcp", 80), false},
		{"4in6", ep("::ffff:10.0.0.1", "tcp", 80), false},
		{"4in6 IP2", Entry{IP: netip.MustParseAddr("::1"), Protocol: "tcp", IP2: netip.MustParseAddr("::ffff:10.0.0.1")}, false},
		{"mixed families", epi("10.0.0.1", "tcp", 80, "fd00::1"), false},
		{"no protocol", ep("10.0.0.1", "", 80), false},
	}
	for _, tt := range tests {
		if err := validateEntry(tt.e); (err == nil) != tt.ok {
			t.Errorf("%s: validateEntry(%v) = %v", tt.name, tt.e, err)
		}
	}
}

func TestValidateSet(t *testing.T) {
	for _, s := range []Set{
		{Name: "", Type: HashIPPort, Family: FamilyInet},
		{Name: "X", Type: "hash:net", Family: FamilyInet},
		{Name: "X", Type: HashIPPort, Family: "inet4"},
	} {
		if err := validateSet(s); err == nil {
			t.Errorf("validateSet(%+v) accepted", s)
		}
	}
}

package netif

import (
	"net/netip"
	"testing"
)

func TestValidateLinkName(t *testing.T) {
	for name, ok := range map[string]bool{
		"kube-ipvs0": true, "eth0.100": true, "123456789012345": true,
		"": false, ".": false, "..": false, "1234567890123456": false,
		"a/b": false, "a:b": false, "a b": false, "a\tb": false,
	} {
		if err := validateLinkName(name); (err == nil) != ok {
			t.Errorf("validateLinkName(%q) = %v", name, err)
		}
	}
}

func TestValidateAddr(t *testing.T) {
	for s, ok := range map[string]bool{
		"10.96.0.1": true, "fd00::1": true, "fe80::1": true,
		"fe80::1%eth0": false, "::ffff:10.96.0.1": false,
	} {
		if err := validateAddr(netip.MustParseAddr(s)); (err == nil) != ok {
			t.Errorf("validateAddr(%s) = %v", s, err)
		}
	}
	if validateAddr(netip.Addr{}) == nil {
		t.Error("validateAddr accepted the zero Addr")
	}
}

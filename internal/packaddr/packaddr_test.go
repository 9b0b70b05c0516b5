package packaddr

import (
	"net/netip"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	const valid, is4 = 1, 2
	for _, s := range []string{"", "10.96.0.10", "0.0.0.0", "::", "fd00::a", "::ffff:10.96.0.10"} {
		var a netip.Addr
		if s != "" {
			a = netip.MustParseAddr(s)
		}
		b, f := Pack(a, valid, is4)
		if got := Unpack(b, f, valid, is4); got != a {
			t.Errorf("%q: round trip gave %v (flags %d)", s, got, f)
		}
		if a.Is4() != (f&is4 != 0) || a.IsValid() != (f&valid != 0) {
			t.Errorf("%q: flags %d", s, f)
		}
	}
}

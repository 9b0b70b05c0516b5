package netif

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The rules both the Kernel and the Fake follow. The Fake's tests run them
// against a Fake holding what a fresh network namespace holds (lo, without
// addresses while it is down), the kernel tests against the Kernel in a fresh
// namespace per case.

// step calls one method: EnsureDummy (addr invalid) or the address methods
// (link and addr), Addresses (check set, addr invalid) or LocalAddresses
// (link: the one left out). wantErr is nil, errAny or an error the result must wrap.
type step struct {
	op       Op
	link     string
	addr     netip.Addr
	wantErr  error
	want     []netip.Addr // Addresses
	wantLocs []Address    // LocalAddresses
}

var errAny = errors.New("any error")

func ensureDummy(link string) step   { return step{op: OpEnsureDummy, link: link} }
func addAddr(link, addr string) step { return step{op: OpAddAddress, link: link, addr: parse(addr)} }
func delAddr(link, addr string) step { return step{op: OpDelAddress, link: link, addr: parse(addr)} }
func localAddrs(except string, want ...Address) step {
	return step{op: OpLocalAddresses, link: except, wantLocs: want}
}
func (st step) fails(err error) step { st.wantErr = err; return st }
func addrs(link string, want ...string) step {
	st := step{op: OpAddresses, link: link}
	for _, w := range want {
		st.want = append(st.want, netip.MustParseAddr(w))
	}
	return st
}
func on(link, addr string) Address { return Address{Link: link, Addr: netip.MustParseAddr(addr)} }

// parse accepts "" for the invalid address and zoned addresses.
func parse(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

var rules = []struct {
	name  string
	steps []step
}{
	{"ensure creates the dummy link, once", []step{
		ensureDummy("kube-ipvs0"), ensureDummy("kube-ipvs0"), addrs("kube-ipvs0"),
	}},
	{"ensure over a link of another type is a conflict", []step{
		ensureDummy("lo").fails(ErrConflict),
	}},
	{"a 15-byte name is accepted, a 16-byte one refused", []step{
		ensureDummy(strings.Repeat("d", 15)), ensureDummy(strings.Repeat("d", 16)).fails(errAny),
	}},
	{"names with '/', ':' or spaces are refused", []step{
		ensureDummy("a/b").fails(errAny), ensureDummy("a:b").fails(errAny), ensureDummy("a b").fails(errAny),
	}},
	{"addresses on a missing link fail with ENODEV", []step{
		addrs("nosuch0").fails(syscall.ENODEV),
		addAddr("nosuch0", "10.96.0.10").fails(syscall.ENODEV),
		delAddr("nosuch0", "10.96.0.10").fails(syscall.ENODEV),
	}},
	{"add, list and delete IPv4 and IPv6 addresses", []step{
		ensureDummy("kube-ipvs0"),
		addAddr("kube-ipvs0", "10.96.0.10"), addAddr("kube-ipvs0", "10.96.0.1"), addAddr("kube-ipvs0", "fd00::a"),
		addrs("kube-ipvs0", "10.96.0.1", "10.96.0.10", "fd00::a"),
		delAddr("kube-ipvs0", "10.96.0.10"), delAddr("kube-ipvs0", "fd00::a"),
		addrs("kube-ipvs0", "10.96.0.1"),
	}},
	{"adding an address twice is not an error", []step{
		ensureDummy("kube-ipvs0"),
		addAddr("kube-ipvs0", "10.96.0.10"), addAddr("kube-ipvs0", "10.96.0.10"),
		addAddr("kube-ipvs0", "fd00::a"), addAddr("kube-ipvs0", "fd00::a"),
		addrs("kube-ipvs0", "10.96.0.10", "fd00::a"),
	}},
	{"deleting a missing address is not an error", []step{
		ensureDummy("kube-ipvs0"), delAddr("kube-ipvs0", "10.96.0.10"), delAddr("kube-ipvs0", "fd00::a"),
	}},
	{"invalid, zoned and IPv4-mapped addresses are refused", []step{
		ensureDummy("kube-ipvs0"),
		addAddr("kube-ipvs0", "").fails(errAny), addAddr("kube-ipvs0", "fe80::1%kube-ipvs0").fails(errAny),
		addAddr("kube-ipvs0", "::ffff:10.96.0.10").fails(errAny), delAddr("kube-ipvs0", "").fails(errAny),
		addrs("kube-ipvs0"),
	}},
	{"local addresses of every link, with link names", []step{
		ensureDummy("kube-ipvs0"), ensureDummy("other0"),
		addAddr("kube-ipvs0", "10.96.0.10"), addAddr("kube-ipvs0", "fd00::a"),
		addAddr("other0", "192.168.5.5"), addAddr("other0", "10.96.0.10"), addAddr("other0", "fd00::5"),
		localAddrs("", on("kube-ipvs0", "10.96.0.10"), on("kube-ipvs0", "fd00::a"),
			on("other0", "10.96.0.10"), on("other0", "192.168.5.5"), on("other0", "fd00::5")),
	}},
	{"local addresses but the dummy link's", []step{
		ensureDummy("kube-ipvs0"), ensureDummy("other0"), ensureDummy("other1"),
		addAddr("kube-ipvs0", "10.96.0.10"), addAddr("kube-ipvs0", "fd00::a"),
		addAddr("other0", "192.168.5.5"), addAddr("other1", "fd00::5"), addAddr("other1", "10.96.0.10"),
		localAddrs("kube-ipvs0", on("other0", "192.168.5.5"), on("other1", "10.96.0.10"), on("other1", "fd00::5")),
	}},
}

// withoutLinkLocal drops the fe80:: addresses the kernel gives links that come up.
func withoutLinkLocal[T any](in []T, addr func(T) netip.Addr) []T {
	return slices.DeleteFunc(in, func(x T) bool { return addr(x).IsLinkLocalUnicast() })
}

func runRules(t *testing.T, newIface func(t *testing.T) Interface) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			ifc := newIface(t)
			for i, st := range r.steps {
				var got []netip.Addr
				var gotLocs []Address
				var err error
				switch st.op {
				case OpEnsureDummy:
					err = ifc.EnsureDummy(st.link)
				case OpAddresses:
					got, err = ifc.Addresses(st.link)
				case OpAddAddress:
					err = ifc.AddAddress(st.link, st.addr)
				case OpDelAddress:
					err = ifc.DelAddress(st.link, st.addr)
				case OpLocalAddresses:
					gotLocs, err = ifc.LocalAddresses(st.link)
				}
				switch {
				case st.wantErr == nil && err != nil:
					t.Fatalf("step %d %s %s %s: %v", i, st.op, st.link, st.addr, err)
				case st.wantErr != nil && err == nil:
					t.Fatalf("step %d %s %s %s: no error, want one", i, st.op, st.link, st.addr)
				case st.wantErr != nil && st.wantErr != errAny && !errors.Is(err, st.wantErr):
					t.Fatalf("step %d %s %s %s: %v, want one wrapping %v", i, st.op, st.link, st.addr, err, st.wantErr)
				case err != nil && !strings.Contains(err.Error(), st.link):
					t.Fatalf("step %d %s: error %q does not name the link", i, st.op, err)
				}
				if err != nil {
					continue
				}
				if st.op == OpAddresses {
					got = withoutLinkLocal(got, func(a netip.Addr) netip.Addr { return a })
					if !slices.Equal(got, st.want) {
						t.Fatalf("step %d addresses of %s = %v, want %v", i, st.link, got, st.want)
					}
				}
				if st.op == OpLocalAddresses {
					gotLocs = withoutLinkLocal(gotLocs, func(a Address) netip.Addr { return a.Addr })
					if !slices.Equal(gotLocs, st.wantLocs) {
						t.Fatalf("step %d local addresses = %v, want %v", i, gotLocs, st.wantLocs)
					}
				}
			}
		})
	}
}

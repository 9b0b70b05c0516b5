//go:build linux

package netif

import (
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The kernel tests run the Kernel in a fresh named network namespace each,
// created with `ip netns add` so that the `ip` command can inspect it. They
// skip unless run as root on a kernel with dummy links.

var (
	modprobeOnce sync.Once
)

func namedNetns(tb testing.TB) string { return netnstest.Named(tb, "netif") }

func inNetns(tb testing.TB, name string, f func()) { netnstest.Run(tb, name, f) }

// kernelNetif returns a Kernel in a fresh named namespace, and the namespace.
func kernelNetif(tb testing.TB) (*Kernel, string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("kernel test: needs root")
	}
	modprobeOnce.Do(func() { _ = exec.Command("modprobe", "dummy").Run() })
	name := namedNetns(tb)
	var k *Kernel
	var skip, err error
	inNetns(tb, name, func() {
		if skip = probeDummy(); skip != nil {
			return
		}
		k, err = New()
	})
	if skip != nil {
		tb.Skipf("kernel test: no dummy links: %v", skip)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Close)
	return k, name
}

// probeDummy creates and deletes a dummy link with the library alone, so that
// missing kernel support skips the tests and bugs in Kernel do not.
func probeDummy() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}
	if err := h.LinkAdd(d); err != nil {
		return err
	}
	return h.LinkDel(d)
}

// ipCmd runs the ip command in the namespace.
func ipCmd(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestKernelRules(t *testing.T) {
	runRules(t, func(t *testing.T) Interface {
		k, _ := kernelNetif(t)
		return k
	})
}

// TestKernelBindings checks what the kernel makes of our addresses: a /32 and
// a /128 on an up dummy link, local routes for both, and the IPv6 one not
// tentative (IFA_F_NODAD).
func TestKernelBindings(t *testing.T) {
	k, ns := kernelNetif(t)
	if err := k.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	if out := ipCmd(t, ns, "-d", "link", "show", "kube-ipvs0"); !strings.Contains(out, "dummy") || !strings.Contains(out, ",UP") {
		t.Fatalf("kube-ipvs0 is not an up dummy link:\n%s", out)
	}
	for _, a := range []string{"10.96.0.10", "fd00::a"} {
		if err := k.AddAddress("kube-ipvs0", netip.MustParseAddr(a)); err != nil {
			t.Fatal(err)
		}
	}
	out := ipCmd(t, ns, "addr", "show", "dev", "kube-ipvs0")
	for _, want := range []string{"inet 10.96.0.10/32 scope global kube-ipvs0", "inet6 fd00::a/128 scope global nodad"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip addr show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tentative") {
		t.Errorf("an address is tentative:\n%s", out)
	}
	routes := ipCmd(t, ns, "route", "show", "table", "local") + ipCmd(t, ns, "-6", "route", "show", "table", "local")
	for _, want := range []string{"local 10.96.0.10 dev kube-ipvs0", "local fd00::a dev kube-ipvs0"} {
		if !strings.Contains(routes, want) {
			t.Errorf("no local route %q:\n%s", want, routes)
		}
	}
}

// TestKernelEnsureDummyExisting: an existing down dummy link is set up and
// keeps its addresses. (A link of another type is in the rules: lo.)
func TestKernelEnsureDummyExisting(t *testing.T) {
	k, ns := kernelNetif(t)
	ipCmd(t, ns, "link", "add", "kube-ipvs0", "type", "dummy")
	ipCmd(t, ns, "addr", "add", "10.96.0.1/32", "dev", "kube-ipvs0")
	if err := k.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	if out := ipCmd(t, ns, "link", "show", "kube-ipvs0"); !strings.Contains(out, ",UP") {
		t.Fatalf("kube-ipvs0 is not up:\n%s", out)
	}
	got, err := k.Addresses("kube-ipvs0")
	if err != nil {
		t.Fatal(err)
	}
	got = withoutLinkLocal(got, func(a netip.Addr) netip.Addr { return a })
	if len(got) != 1 || got[0] != netip.MustParseAddr("10.96.0.1") {
		t.Fatalf("addresses = %v, want 10.96.0.1", got)
	}
}

// TestKernelDelAddressAnyPrefix: an address someone bound with a shorter
// prefix is still removed, so what Addresses lists can be deleted.
func TestKernelDelAddressAnyPrefix(t *testing.T) {
	k, ns := kernelNetif(t)
	if err := k.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	ipCmd(t, ns, "addr", "add", "10.96.5.5/24", "dev", "kube-ipvs0")
	ipCmd(t, ns, "addr", "add", "fd00:5::5/64", "dev", "kube-ipvs0", "nodad")
	for _, a := range []string{"10.96.5.5", "fd00:5::5"} {
		if err := k.DelAddress("kube-ipvs0", netip.MustParseAddr(a)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := k.Addresses("kube-ipvs0")
	if err != nil {
		t.Fatal(err)
	}
	if got = withoutLinkLocal(got, func(a netip.Addr) netip.Addr { return a }); len(got) != 0 {
		t.Fatalf("addresses after delete = %v", got)
	}
}

// TestKernelLocalAddressesLoopback: lo's addresses show up once it is up.
func TestKernelLocalAddressesLoopback(t *testing.T) {
	k, ns := kernelNetif(t)
	ipCmd(t, ns, "link", "set", "lo", "up")
	got, err := k.LocalAddresses("kube-ipvs0")
	if err != nil {
		t.Fatal(err)
	}
	found := map[Address]bool{}
	for _, a := range got {
		found[a] = true
	}
	if !found[on("lo", "127.0.0.1")] {
		t.Fatalf("local addresses %v lack lo 127.0.0.1", got)
	}
	if _, err := os.Stat("/proc/net/if_inet6"); err == nil && !found[on("lo", "::1")] {
		t.Fatalf("local addresses %v lack lo ::1", got)
	}
}

// TestKernelLocalAddressesLeavesOutDummy: the dummy link's addresses are
// left out (the kernel filters the dump per link), every other link's are
// all there, IPv4 and IPv6.
func TestKernelLocalAddressesLeavesOutDummy(t *testing.T) {
	k, _ := kernelNetif(t)
	for _, l := range []string{"kube-ipvs0", "other0"} {
		if err := k.EnsureDummy(l); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		if err := k.AddAddress("kube-ipvs0", netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"192.168.5.5", "10.96.0.1", "fd00::5"} {
		if err := k.AddAddress("other0", netip.MustParseAddr(a)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := k.LocalAddresses("kube-ipvs0")
	if err != nil {
		t.Fatal(err)
	}
	got = withoutLinkLocal(got, func(a Address) netip.Addr { return a.Addr })
	want := []Address{on("other0", "10.96.0.1"), on("other0", "192.168.5.5"), on("other0", "fd00::5")}
	if !slices.Equal(got, want) {
		t.Fatalf("local addresses but kube-ipvs0's = %v, want %v", got, want)
	}
	all, err := k.LocalAddresses("")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(withoutLinkLocal(all, func(a Address) netip.Addr { return a.Addr })); n != 303 {
		t.Fatalf("all local addresses: %d, want 303", n)
	}
}

// BenchmarkKernelLocalAddresses: the node's addresses with 10,000 ClusterIPs
// on the dummy link, read with the dummy left out (what a refresh does) and
// with every link (what it did before).
func BenchmarkKernelLocalAddresses(b *testing.B) {
	k, _ := kernelNetif(b)
	for _, l := range []string{"kube-ipvs0", "eth0"} {
		if err := k.EnsureDummy(l); err != nil {
			b.Fatal(err)
		}
	}
	if err := k.AddAddress("eth0", netip.MustParseAddr("192.168.5.5")); err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if err := k.AddAddress("kube-ipvs0", netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})); err != nil {
			b.Fatal(err)
		}
	}
	for _, except := range []string{"kube-ipvs0", ""} {
		b.Run("except="+except, func(b *testing.B) {
			for b.Loop() {
				if _, err := k.LocalAddresses(except); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKernelAddressAfterLinkMadeAgain: the link's index is remembered
// between address changes; a link deleted and made again (a new index) is
// found again, and the address lands on it.
func TestKernelAddressAfterLinkMadeAgain(t *testing.T) {
	k, ns := kernelNetif(t)
	a, b := netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("10.96.0.11")
	if err := k.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	if err := k.AddAddress("kube-ipvs0", a); err != nil {
		t.Fatal(err)
	}
	ipCmd(t, ns, "link", "del", "kube-ipvs0")
	ipCmd(t, ns, "link", "add", "other0", "type", "dummy") // takes the next index
	if err := k.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	if err := k.AddAddress("kube-ipvs0", b); err != nil {
		t.Fatal(err)
	}
	if err := k.DelAddress("kube-ipvs0", a); err != nil {
		t.Fatal(err)
	}
	got, err := k.Addresses("kube-ipvs0")
	if err != nil {
		t.Fatal(err)
	}
	if got = withoutLinkLocal(got, func(a netip.Addr) netip.Addr { return a }); !slices.Equal(got, []netip.Addr{b}) {
		t.Fatalf("kube-ipvs0 made again holds %v, want [%v]", got, b)
	}
	if got, _ := k.Addresses("other0"); len(withoutLinkLocal(got, func(a netip.Addr) netip.Addr { return a })) != 0 {
		t.Fatalf("other0 holds %v", got)
	}
}

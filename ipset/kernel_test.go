//go:build linux

package ipset

import (
	"bytes"
	"errors"
	"fmt"
	"log"
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

// The kernel tests run the Kernel in a fresh named network namespace each
// (ipsets are per namespace), created with `ip netns add` so that the
// `ipset` command can be run in it too. They skip unless run as root on a
// kernel with ip_set and its hash:ip,port and hash:ip,port,ip types.

var (
	modprobeOnce sync.Once
)

func namedNetns(tb testing.TB) string { return netnstest.Named(tb, "ipset") }

func inNetns(tb testing.TB, name string, f func()) { netnstest.Run(tb, name, f) }

// kernelIpset returns a Kernel in a fresh named namespace, and the namespace.
func kernelIpset(tb testing.TB) (*Kernel, string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("kernel test: needs root")
	}
	modprobeOnce.Do(func() {
		for _, m := range []string{"ip_set", "ip_set_hash_ipport", "ip_set_hash_ipportip"} {
			_ = exec.Command("modprobe", m).Run() // built in, or missing: the probe decides
		}
	})
	name := namedNetns(tb)
	var k *Kernel
	var skip, err error
	inNetns(tb, name, func() {
		if skip = probeIpset(); skip != nil {
			return
		}
		k, err = New()
	})
	if skip != nil {
		tb.Skipf("kernel test: no ipset support: %v", skip)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Close)
	return k, name
}

// probeIpset creates and destroys a set of each type with the library alone,
// so that missing kernel support skips the tests and bugs in Kernel do not.
func probeIpset() error {
	h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, typ := range []string{HashIPPort, HashIPPortIP} {
		if err := h.IpsetCreate("probe", typ, netlink.IpsetCreateOptions{}); err != nil {
			return fmt.Errorf("create %s: %w", typ, err)
		}
		if err := h.IpsetDestroy("probe"); err != nil {
			return fmt.Errorf("destroy %s: %w", typ, err)
		}
	}
	return nil
}

// ipsetCmd runs the ipset command in the namespace.
func ipsetCmd(tb testing.TB, ns string, args ...string) (string, error) {
	tb.Helper()
	if _, err := exec.LookPath("ipset"); err != nil {
		tb.Skip("kernel test: no ipset command")
	}
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "ipset"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ipset %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func TestKernelRules(t *testing.T) {
	runRules(t, func(t *testing.T) Interface {
		k, _ := kernelIpset(t)
		return k
	})
}

// TestKernelSaveMatchesFormatMembers checks our rendering against the ipset
// command's: the members of `ipset save NAME` are the lines FormatMembers
// prints (ipset saves in hash order, so both are compared sorted), and its
// create line starts with the one Fake.Save prints.
func TestKernelSaveMatchesFormatMembers(t *testing.T) {
	k, ns := kernelIpset(t)
	members := map[Set][]Entry{
		v4Port: {ep("10.96.0.10", "tcp", 53), ep("10.96.0.10", "udp", 53), ep("10.96.0.1", "tcp", 443),
			ep("192.168.1.200", "sctp", 3868), ep("10.96.0.11", "tcp", 0), ep("10.96.0.12", "udp", 65535)},
		v6Port:   {ep("fd00::a", "tcp", 80), ep("2001:db8::1", "sctp", 3868), ep("fd00:1234::ffff", "udp", 53)},
		v4PortIP: {epi("10.244.1.5", "tcp", 8080, "10.244.1.5"), epi("10.244.1.5", "udp", 53, "10.244.2.7")},
		v6PortIP: {epi("fd00:10::5", "sctp", 9, "fd00:10::5")},
	}
	for s, entries := range members {
		if err := k.Ensure(s); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := k.Add(s.Name, e); err != nil {
				t.Fatal(err)
			}
		}
		out, err := ipsetCmd(t, ns, "save", s.Name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		wantCreate := strings.TrimSuffix(formatCreate(s), "\n")
		if !strings.HasPrefix(lines[0], wantCreate) {
			t.Errorf("ipset save create line %q, want prefix %q", lines[0], wantCreate)
		}
		got := slices.Sorted(slices.Values(lines[1:]))
		want := slices.Sorted(slices.Values(strings.Split(strings.TrimSpace(FormatMembers(s.Name, entries)), "\n")))
		if !slices.Equal(got, want) {
			t.Errorf("set %s: ipset save members\n%s\nFormatMembers\n%s", s.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		listed, err := k.List(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatMembers(s.Name, listed); got != FormatMembers(s.Name, entries) {
			t.Errorf("set %s: List gave\n%s", s.Name, got)
		}
	}
}

// TestKernelEnsureAcceptsIpsetCreated: a set the ipset command made (as
// kube-proxy makes them, at the newest revision) is kept with its members.
func TestKernelEnsureAcceptsIpsetCreated(t *testing.T) {
	k, ns := kernelIpset(t)
	if _, err := ipsetCmd(t, ns, "create", v6PortIP.Name, HashIPPortIP, "family", "inet6", "hashsize", "4096", "maxelem", "1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := ipsetCmd(t, ns, "add", v6PortIP.Name, "fd00::1,udp:53,fd00::2"); err != nil {
		t.Fatal(err)
	}
	if err := k.Ensure(v6PortIP); err != nil {
		t.Fatal(err)
	}
	got, err := k.List(v6PortIP.Name)
	if err != nil || len(got) != 1 || got[0] != epi("fd00::1", "udp", 53, "fd00::2") {
		t.Fatalf("list = %v, %v", got, err)
	}
	if err := k.Ensure(typed(v6PortIP, HashIPPortIP, FamilyInet)); !errors.Is(err, ErrConflict) {
		t.Fatalf("ensure with family inet: %v, want ErrConflict", err)
	}
}

// TestKernelDestroyReferenced references a set from a list:set.
func TestKernelDestroyReferenced(t *testing.T) {
	k, ns := kernelIpset(t)
	if err := k.Ensure(v4Port); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("modprobe", "ip_set_list_set").Run()
	if _, err := ipsetCmd(t, ns, "create", "REF", "list:set"); err != nil {
		t.Skipf("no list:set to reference a set with: %v", err)
	}
	if _, err := ipsetCmd(t, ns, "add", "REF", v4Port.Name); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(v4Port.Name); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), v4Port.Name) {
		t.Fatalf("destroy of a referenced set: %v, want ErrBusy naming the set", err)
	}
	if _, err := ipsetCmd(t, ns, "destroy", "REF"); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(v4Port.Name); err != nil {
		t.Fatal(err)
	}
}

// TestKernelConcurrent shares one Kernel (one socket) between goroutines.
func TestKernelConcurrent(t *testing.T) {
	k, _ := kernelIpset(t)
	if err := k.Ensure(v4Port); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := k.Add(v4Port.Name, ep(fmt.Sprintf("10.1.%d.%d", g, i), "tcp", 80)); err != nil {
					errs <- err
					return
				}
				if i%50 == 0 {
					if _, err := k.List(v4Port.Name); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := k.List(v4Port.Name)
	if err != nil || len(got) != 8*200 {
		t.Fatalf("list: %d entries, %v; want 1600", len(got), err)
	}
}

// TestKernelListLogsNothing: netlink v1.3.1 logs header attributes it does
// not know with the standard logger. Sets the Kernel creates (revision 1)
// have none, so listing them must not write to the daemon's log. (Sets the
// ipset command created at revision 6 or later carry bucketsize and initval,
// which the library logs on every List.)
func TestKernelListLogsNothing(t *testing.T) {
	k, _ := kernelIpset(t)
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	for _, s := range []Set{v4Port, v6PortIP} {
		if err := k.Ensure(s); err != nil {
			t.Fatal(err)
		}
	}
	_ = k.Add(v4Port.Name, ep("10.0.0.1", "tcp", 1))
	_ = k.Add(v6PortIP.Name, epi("fd00::1", "tcp", 1, "fd00::2"))
	for _, s := range []Set{v4Port, v6PortIP} {
		if _, err := k.List(s.Name); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("the netlink library logged:\n%s", buf.String())
	}
}

// entries10k are 10,000 distinct hash:ip,port members.
func entries10k() []Entry {
	entries := make([]Entry, 0, 10000)
	for i := 0; i < 10000; i++ {
		ip := netip.AddrFrom4([4]byte{10, 96, byte(i / 250), byte(i%250 + 1)})
		entries = append(entries, Entry{IP: ip, Protocol: []string{"tcp", "udp"}[i%2], Port: uint16(1000 + i%7)})
	}
	return entries
}

// BenchmarkKernelAdd10000 adds 10,000 entries to an empty hash:ip,port set
// per iteration, one netlink request each.
func BenchmarkKernelAdd10000(b *testing.B) {
	k, _ := kernelIpset(b)
	entries := entries10k()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := k.Destroy(v4Port.Name); err != nil {
			b.Fatal(err)
		}
		if err := k.Ensure(v4Port); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, e := range entries {
			if err := k.Add(v4Port.Name, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(entries)), "ns/entry")
}

// BenchmarkKernelList10000 dumps a set of 10,000 entries.
func BenchmarkKernelList10000(b *testing.B) {
	k, _ := kernelIpset(b)
	if err := k.Ensure(v4Port); err != nil {
		b.Fatal(err)
	}
	for _, e := range entries10k() {
		if err := k.Add(v4Port.Name, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := k.List(v4Port.Name)
		if err != nil || len(got) != 10000 {
			b.Fatalf("list: %d entries, %v", len(got), err)
		}
	}
}

func TestKernelGrowRules(t *testing.T) {
	runGrowRules(t, func(t *testing.T) Interface {
		k, _ := kernelIpset(t)
		return k
	})
}

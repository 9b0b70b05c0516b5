//go:build linux

package ipvs

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/netnstest"
)

// newTestKernel locks the calling goroutine to its thread, moves the thread
// into a fresh network namespace (restored at cleanup), gives it routes for
// the real servers (a dummy link owning 10.0.0.0/8 and fd00::/16: IPVS
// refuses a NAT destination the namespace cannot route, and a fresh
// namespace routes nothing), and opens a Kernel there. It skips unless run
// as root on a kernel with IPVS.
//
// Commands the test runs with run or exec.Command from this goroutine are
// forked from the locked thread, so they run in the same namespace;
// checkSameNetns verifies it. Subtests and other goroutines are not in the
// namespace (the Kernel's socket is, wherever it is used from).
func newTestKernel(tb testing.TB) *Kernel {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("kernel IPVS test: needs root (run the test binary in hack/sandbox)")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if out, err := exec.Command("modprobe", "ip_vs").CombinedOutput(); err != nil {
			tb.Skipf("kernel IPVS test: no IPVS in this kernel: modprobe ip_vs: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	netnstest.Fresh(tb)
	if _, err := os.Stat("/proc/thread-self/net/ip_vs"); err != nil {
		tb.Skipf("kernel IPVS test: no IPVS in the new namespace: %v", err)
	}
	k, err := New()
	if err != nil {
		tb.Skipf("kernel IPVS test: %v", err)
	}
	tb.Cleanup(func() { _ = k.Close() })
	if svcs, err := k.Dump(); err != nil || len(svcs) != 0 {
		tb.Fatalf("fresh namespace: Dump = %v, %v; want empty", svcs, err)
	}
	run(tb, "ip", "link", "set", "lo", "up")
	run(tb, "ip", "link", "add", "rs0", "type", "dummy")
	run(tb, "ip", "link", "set", "rs0", "up")
	run(tb, "ip", "route", "add", "10.0.0.0/8", "dev", "rs0")
	run(tb, "ip", "-6", "route", "add", "fd00::/16", "dev", "rs0")
	return k
}

// run runs argv (from the calling, namespace-locked goroutine) and returns
// its standard output; it fails the test if argv fails.
func run(tb testing.TB, argv ...string) string {
	tb.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return string(out)
}

// checkSameNetns fails unless a child process started from here runs in the
// network namespace of this thread.
func checkSameNetns(tb testing.TB) {
	tb.Helper()
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		tb.Fatal(err)
	}
	child := strings.TrimSpace(run(tb, "readlink", "/proc/self/ns/net"))
	if child != self {
		tb.Fatalf("child process in network namespace %s, test thread in %s", child, self)
	}
}

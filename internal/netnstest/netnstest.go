//go:build linux

// Package netnstest gives kernel tests a fresh network namespace: Fresh moves
// the test's thread into an unnamed one; Named makes a named one
// (`ip netns add`, so commands like `ipset` or `ip` can be run in
// it with `ip netns exec`) and a way to run Go code inside it.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

var seq atomic.Int64

// Named creates a network namespace for the test, removed at cleanup. It
// skips unless run as root with the ip command.
func Named(tb testing.TB, prefix string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("kernel test: needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("kernel test: no ip command to create a named network namespace")
	}
	name := fmt.Sprintf("ipvsproxy-%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		tb.Skipf("kernel test: ip netns add: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

// Run runs f on a locked thread switched to the named namespace. If the
// thread cannot be switched back it stays locked, so the runtime retires it.
func Run(tb testing.TB, name string, f func()) {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("netns %s: %v", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("enter netns %s: %v", name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			tb.Errorf("restore netns: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
}

// Fresh locks the calling goroutine to its thread and moves the thread into
// a new, unnamed network namespace (unshare(CLONE_NEWNET)), restored at
// cleanup. Netlink sockets opened from here on, and commands forked from
// this goroutine (exec.Command), live in that namespace; subtests and other
// goroutines do not. If the thread cannot be switched back it stays locked,
// so the runtime retires it with the goroutine instead of running other
// goroutines in the test's namespace. It skips unless run as root.
func Fresh(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("kernel test: needs root (run the test binary in hack/sandbox)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Skipf("kernel test: current network namespace: %v", err)
	}
	ns, err := netns.New() // unshare(CLONE_NEWNET) for this thread
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		tb.Skipf("kernel test: new network namespace: %v", err)
	}
	tb.Cleanup(func() {
		defer orig.Close()
		defer ns.Close()
		if err := netns.Set(orig); err != nil {
			tb.Errorf("restore network namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	})
}

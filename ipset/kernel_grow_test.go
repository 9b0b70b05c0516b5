//go:build linux

package ipset

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// growTarget is how many members TestKernelGrowUnderTraffic ends with (past
// 200,000, as issue #8 asks).
const growTarget = 210000

// TestKernelGrowUnderTraffic is issue #8's promise on the real kernel: a
// ledger-like hash:ip,port set, matched by an iptables rule, grows from a
// maxelem of 16,384 past 200,000 members through four Grows (create, fill,
// swap, destroy), while a goroutine keeps opening TCP connections that the
// rule lets through only while the first member is in the set. Every
// connection must pass, and at least one is made between any two swaps.
// The control at the end deletes that member and expects the rule to refuse.
func TestKernelGrowUnderTraffic(t *testing.T) {
	k, ns := kernelIpset(t)
	for _, bin := range []string{"iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("kernel test: no %s", bin)
		}
	}
	_ = exec.Command("modprobe", "xt_set").Run()
	netnsCmd(t, ns, "ip", "link", "set", "lo", "up")

	// A listener on 127.0.0.1 in the namespace: the first member is its
	// address,tcp:port.
	var ln net.Listener
	var err error
	inNetns(t, ns, func() { ln, err = net.Listen("tcp", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	first := ep("127.0.0.1", "tcp", lport)

	s := Set{Name: "IPVS-PROXY-CLUSTER-IP", Type: HashIPPort, Family: FamilyInet, MaxElem: 16384}
	if err := k.Ensure(s); err != nil {
		t.Fatal(err)
	}
	if err := k.Add(s.Name, first); err != nil {
		t.Fatal(err)
	}
	// Connections to the listener are reset unless address,port is a member.
	netnsCmd(t, ns, "iptables", "-A", "OUTPUT", "-o", "lo", "-p", "tcp", "-d", "127.0.0.1", "--dport", fmt.Sprint(lport),
		"-m", "set", "!", "--match-set", s.Name, "dst,dst", "-j", "REJECT", "--reject-with", "tcp-reset")
	if info, err := k.Info(s.Name); err != nil || info.References != 1 {
		t.Fatalf("the rule does not reference the set: %+v, %v", info, err)
	}

	p := startProbe(t, ns, ln.Addr().String())
	p.waitNext(t)
	if p.failed() != 0 {
		t.Fatalf("the first connection failed before any growth: %s", p.firstFailure())
	}

	members := []Entry{first}
	var nextIP uint32 = 10 << 24
	newMembers := func(n int) []Entry {
		es := make([]Entry, n)
		for i := range es {
			nextIP++
			es[i] = Entry{IP: netip.AddrFrom4([4]byte{byte(nextIP >> 24), byte(nextIP >> 16), byte(nextIP >> 8), byte(nextIP)}), Protocol: "tcp", Port: 80}
		}
		return es
	}
	swaps := 0
	for len(members) < growTarget {
		info, err := k.Info(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		// Fill the set until the kernel refuses with ErrFull (it takes
		// at least maxelem members, a few more when its hash has several
		// lock regions) or the target is reached.
		add := newMembers(growTarget - info.Size)
		start := time.Now()
		addErr := k.AddAll(s.Name, add)
		after, err := k.Info(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, add[:after.Size-info.Size]...) // the kernel adds in order and stops at the error
		t.Logf("filled to %d members (maxelem %d) in %v; %d connections so far", len(members), info.MaxElem, time.Since(start), p.passed())
		if len(members) >= growTarget {
			if addErr != nil {
				t.Fatal(addErr)
			}
			break
		}
		if !errors.Is(addErr, ErrFull) || after.Size < info.MaxElem {
			t.Fatalf("filling a set of maxelem %d stopped at %d members: %v, want ErrFull at maxelem or later", info.MaxElem, after.Size, addErr)
		}
		start = time.Now()
		if err := Grow(k, sized(s, 2*info.MaxElem, info.MaxElem/2), members); err != nil {
			t.Fatal(err)
		}
		swaps++
		t.Logf("grew to maxelem %d in %v", 2*info.MaxElem, time.Since(start))
		p.waitNext(t) // a connection between this swap and the next
	}
	p.waitNext(t)
	passed := p.stop()
	if n := p.failed(); n != 0 {
		t.Fatalf("%d of %d connections failed while the set grew; first: %s", n, int64(n)+passed, p.firstFailure())
	}
	info, err := k.Info(s.Name)
	if err != nil || info.Size != len(members) || info.Size < growTarget || info.References != 1 {
		t.Fatalf("after growing: %+v, %v; want %d members and the rule's reference", info, err, len(members))
	}
	if swaps < 3 {
		t.Fatalf("%d swaps, want several", swaps)
	}
	t.Logf("%d members, maxelem %d, %d swaps, %d connections all passed", info.Size, info.MaxElem, swaps, passed)

	// Control: without the member the rule refuses, so the probe can fail.
	if err := k.Del(s.Name, first); err != nil {
		t.Fatal(err)
	}
	var dialErr error
	inNetns(t, ns, func() {
		var c net.Conn
		if c, dialErr = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); dialErr == nil {
			c.Close()
		}
	})
	if !errors.Is(dialErr, syscall.ECONNREFUSED) {
		t.Fatalf("control: connecting without the member in the set: %v, want the rule's refusal (ECONNREFUSED)", dialErr)
	}
}

// probe connects to addr from inside a namespace, over and over.
type probe struct {
	mu       sync.Mutex
	ok       atomic.Int64
	failures []string
	done     chan struct{}
	wg       sync.WaitGroup
}

func startProbe(t *testing.T, ns, addr string) *probe {
	p := &probe{done: make(chan struct{})}
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer h.Close()
		// Locked and never unlocked: the thread, switched to ns, ends with
		// the goroutine.
		runtime.LockOSThread()
		if err := netns.Set(h); err != nil {
			p.fail(fmt.Sprintf("enter netns: %v", err))
			return
		}
		for {
			select {
			case <-p.done:
				return
			default:
			}
			// A member missing for a moment shows as a refusal (the rule's
			// tcp-reset answers at once; a retransmitted SYN cannot hide
			// it). The long timeout only rides out stalls of the machine:
			// a software-emulated VM on a loaded host has stalled a SYN and
			// its retransmissions for 5 s.
			c, err := net.DialTimeout("tcp", addr, 60*time.Second)
			if err != nil {
				p.fail(fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
				continue
			}
			c.Close()
			p.ok.Add(1)
			time.Sleep(time.Millisecond) // leave the CPU to the filling
		}
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *probe) fail(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = append(p.failures, s)
}

func (p *probe) failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.failures)
}

func (p *probe) firstFailure() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) == 0 {
		return ""
	}
	return p.failures[0]
}

func (p *probe) passed() int64 { return p.ok.Load() }

// waitNext waits for the next connection to be made (passed or failed).
func (p *probe) waitNext(t *testing.T) {
	t.Helper()
	n := p.passed() + int64(p.failed())
	deadline := time.Now().Add(2 * time.Minute)
	for p.passed()+int64(p.failed()) <= n+1 { // +1: the one under way may have started before
		if time.Now().After(deadline) {
			t.Fatal("the probe made no connection in 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
}

// stop ends the probe and returns the connections that passed.
func (p *probe) stop() int64 {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.wg.Wait()
	return p.passed()
}

// netnsCmd runs a command in the namespace.
func netnsCmd(tb testing.TB, ns string, args ...string) {
	tb.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

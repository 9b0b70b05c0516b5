//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// The Kernel tests run against the kernel's IPVS in a fresh network
// namespace (see newTestKernel) and skip without root and IPVS:
//
//	go test -c -o _output/ipvs.test ./ipvs && hack/sandbox -- _output/ipvs.test -test.v -test.run Kernel

func TestKernelVirtualServers(t *testing.T) {
	k := newTestKernel(t)
	tcp := vserver(TCP, "10.96.0.10:80", "rr", 0)
	udp6 := vserver(UDP, "[fd00::a]:53", "wrr", 10800)
	sctp := vserver(SCTP, "10.96.0.30:9999", "sh", 0)
	anyPort := vserver(TCP, "10.96.0.40:0", "rr", 600)
	mh := vserver(TCP, "10.96.0.50:80", "mh", 0)
	mh.Flags = SchedFlag2 // mh-port, as kube-proxy sets it
	for _, vs := range []VirtualServer{tcp, udp6, sctp, anyPort, mh} {
		must(t, k.AddVirtualServer(vs))
	}
	assertDump(t, k, []Service{{VirtualServer: tcp}, {VirtualServer: anyPort}, {VirtualServer: mh}, {VirtualServer: udp6}, {VirtualServer: sctp}})
	mh.Flags, mh.Timeout = SchedFlag1|SchedFlag2, 60 // flags change in place, beside persistence
	must(t, k.UpdateVirtualServer(mh))
	assertDump(t, k, []Service{{VirtualServer: tcp}, {VirtualServer: anyPort}, {VirtualServer: mh}, {VirtualServer: udp6}, {VirtualServer: sctp}})
	must(t, k.DeleteVirtualServer(mh.Key))

	tcp.Scheduler, tcp.Timeout = "lc", 300 // becomes persistent
	udp6.Scheduler, udp6.Timeout = "rr", 0 // stops being persistent
	must(t, k.UpdateVirtualServer(tcp))
	must(t, k.UpdateVirtualServer(udp6))
	assertDump(t, k, []Service{{VirtualServer: tcp}, {VirtualServer: anyPort}, {VirtualServer: udp6}, {VirtualServer: sctp}})

	must(t, k.DeleteVirtualServer(tcp.Key))
	must(t, k.DeleteVirtualServer(udp6.Key))
	assertDump(t, k, []Service{{VirtualServer: anyPort}, {VirtualServer: sctp}})
}

func TestKernelRealServers(t *testing.T) {
	k := newTestKernel(t)
	must(t, k.AddVirtualServer(vs4))
	must(t, k.AddVirtualServer(vs6))
	a, b := rserver("10.244.1.5:8080", 1), rserver("10.244.2.7:8080", 0)
	c := rserver("[fd00:244::5]:53", 3)
	must(t, k.AddRealServer(vs4.Key, b))
	must(t, k.AddRealServer(vs4.Key, a))
	must(t, k.AddRealServer(vs6.Key, c))
	assertDump(t, k, []Service{
		{VirtualServer: vs4, RealServers: []RealServer{a, b}},
		{VirtualServer: vs6, RealServers: []RealServer{c}},
	})

	a.Weight = 65535
	c.Weight, c.Forwarding = 0, Route
	must(t, k.UpdateRealServer(vs4.Key, a))
	must(t, k.UpdateRealServer(vs6.Key, c))
	must(t, k.DeleteRealServer(vs4.Key, b.RealServerKey))
	assertDump(t, k, []Service{
		{VirtualServer: vs4, RealServers: []RealServer{a}},
		{VirtualServer: vs6, RealServers: []RealServer{c}},
	})

	must(t, k.DeleteVirtualServer(vs4.Key)) // takes its real servers along
	must(t, k.AddVirtualServer(vs4))
	assertDump(t, k, []Service{{VirtualServer: vs4}, {VirtualServer: vs6, RealServers: []RealServer{c}}})
}

func TestKernelErrors(t *testing.T) {
	k := newTestKernel(t)
	must(t, k.AddVirtualServer(vs4))
	must(t, k.AddRealServer(vs4.Key, rs4))
	missing := vserver(TCP, "10.96.9.9:80", "rr", 0)
	for _, tt := range []struct {
		name string
		err  error
		want error
		text string
	}{
		{"add existing virtual server", k.AddVirtualServer(vs4), syscall.EEXIST, "add virtual server -t 10.96.0.10:80: file exists"},
		{"unknown scheduler", k.AddVirtualServer(vserver(TCP, "10.96.0.11:80", "nope", 0)), syscall.ENOENT, "add virtual server -t 10.96.0.11:80: no such file or directory"},
		{"update missing virtual server", k.UpdateVirtualServer(missing), syscall.ESRCH, "update virtual server -t 10.96.9.9:80: no such process"},
		{"delete missing virtual server", k.DeleteVirtualServer(missing.Key), syscall.ESRCH, ""},
		{"add real server to missing virtual server", k.AddRealServer(missing.Key, rs4), syscall.ESRCH, "add real server 10.244.1.5:8080 of -t 10.96.9.9:80: no such process"},
		{"add existing real server", k.AddRealServer(vs4.Key, rs4), syscall.EEXIST, "add real server 10.244.1.5:8080 of -t 10.96.0.10:80: file exists"},
		{"update missing real server", k.UpdateRealServer(vs4.Key, rserver("10.244.9.9:80", 1)), syscall.ENOENT, ""},
		{"delete missing real server", k.DeleteRealServer(vs4.Key, rserver("10.244.9.9:80", 1).RealServerKey), syscall.ENOENT, ""},
		{"real server of the other family", k.AddRealServer(vs4.Key, rs6), syscall.EINVAL, ""},
		{"multicast real server", k.AddRealServer(vs4.Key, rserver("224.0.0.1:80", 1)), syscall.EINVAL, ""},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
		if tt.text != "" && (tt.err == nil || tt.err.Error() != tt.text) {
			t.Errorf("%s: error text %q, want %q", tt.name, tt.err, tt.text)
		}
	}
	assertDump(t, k, []Service{{VirtualServer: vs4, RealServers: []RealServer{rs4}}})
	// The destination dump of a missing virtual server is empty, not ESRCH
	// (the Fake answers alike).
	if rss, _, err := k.RealServers(missing.Key); rss != nil || err != nil {
		t.Errorf("RealServers of a missing virtual server: %v, %v", rss, err)
	}

	must(t, k.Close())
	if err := k.AddVirtualServer(vs6); !errors.Is(err, errClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestKernelMatchesFake runs one script of calls, failing ones included, on
// the kernel and on a Fake: each call must fail with the same errno (or
// succeed on both), and both must end up with the same Dump.
func TestKernelMatchesFake(t *testing.T) {
	k := newTestKernel(t)
	f := NewFake()
	dr := rserver("10.244.1.6:8080", 2)
	dr.Forwarding = Route
	steps := []func(Interface) error{
		func(i Interface) error { return i.AddVirtualServer(vs4) },
		func(i Interface) error { return i.AddVirtualServer(vs4) },
		func(i Interface) error { return i.AddVirtualServer(vserver(TCP, "10.96.0.11:80", "nope", 0)) },
		func(i Interface) error { return i.UpdateVirtualServer(vs6) },
		func(i Interface) error { return i.DeleteVirtualServer(vs6.Key) },
		func(i Interface) error { return i.AddRealServer(vs6.Key, rs6) },
		func(i Interface) error { return i.AddVirtualServer(vs6) },
		func(i Interface) error { return i.AddRealServer(vs6.Key, rs6) },
		func(i Interface) error { return i.AddRealServer(vs6.Key, rs6) },
		func(i Interface) error { return i.AddRealServer(vs6.Key, rs4) },
		func(i Interface) error { return i.AddRealServer(vs6.Key, rserver("[fe80::1]:53", 1)) },
		func(i Interface) error { return i.AddRealServer(vs6.Key, rserver("[ff02::1]:53", 1)) },
		func(i Interface) error { return i.AddRealServer(vs4.Key, rs4) },
		func(i Interface) error { return i.AddRealServer(vs4.Key, dr) },
		func(i Interface) error { return i.AddRealServer(vs4.Key, rserver("0.0.0.0:80", 1)) },
		func(i Interface) error { return i.AddRealServer(vs4.Key, rserver("10.244.1.7:80", -1)) },
		func(i Interface) error { return i.UpdateRealServer(vs4.Key, rserver("10.244.1.7:80", 1)) },
		func(i Interface) error { return i.UpdateRealServer(vs4.Key, rserver("10.244.1.5:8080", 4)) },
		func(i Interface) error { return i.UpdateVirtualServer(vserver(UDP, "[fd00::a]:53", "nope", 0)) },
		func(i Interface) error { return i.UpdateVirtualServer(vserver(UDP, "[fd00::a]:53", "sh", 60)) },
		func(i Interface) error { return i.AddVirtualServer(vserver(UDP, "10.96.0.10:0", "rr", 0)) },
		func(i Interface) error { return i.AddVirtualServer(vserver(SCTP, "10.96.0.10:0", "rr", 60)) },
		func(i Interface) error { return i.DeleteRealServer(vs4.Key, dr.RealServerKey) },
		func(i Interface) error { return i.DeleteRealServer(vs4.Key, dr.RealServerKey) },
		func(i Interface) error { return i.DeleteVirtualServer(vs6.Key) },
		func(i Interface) error { return i.DeleteRealServer(vs6.Key, rs6.RealServerKey) },
		func(i Interface) error { return i.AddVirtualServer(vs6) },
	}
	for i, s := range schedulers {
		steps = append(steps, func(in Interface) error {
			return in.AddVirtualServer(vserver(TCP, fmt.Sprintf("10.96.1.1:%d", 1000+i), s, 0))
		})
	}
	for n, step := range steps {
		ek, ef := step(k), step(f)
		if errnoOf(ek) != errnoOf(ef) {
			t.Errorf("step %d: kernel: %v; fake: %v", n, ek, ef)
		}
	}
	dk, err := k.Dump()
	must(t, err)
	df, err := f.Dump()
	must(t, err)
	if !reflect.DeepEqual(dk, df) {
		t.Errorf("kernel:\n%s\nfake:\n%s", Format(dk), Format(df))
	}
}

// errnoOf is the errno err wraps, 0 for nil and -1 for an error without one.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return ^syscall.Errno(0)
}

// TestKernelFormatMatchesIpvsadm compares Format(Dump()) with what
// `ipvsadm -Sn` prints for the same namespace, including entries that
// ipvs-proxy never creates (tunnel and direct-routing real servers, and a
// firewall-mark service, which Dump leaves out).
func TestKernelFormatMatchesIpvsadm(t *testing.T) {
	k := newTestKernel(t)
	checkSameNetns(t)
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
			rserver("192.168.1.10:6443", 1), rserver("10.244.1.1:6443", 0),
		}},
		{VirtualServer: vserver(TCP, "10.96.0.10:9153", "wlc", 0)},
		{VirtualServer: withFlags(vserver(TCP, "10.96.0.10:9154", "mh", 600), SchedFlag1|SchedFlag2)},
		{VirtualServer: withFlags(vserver(TCP, "10.96.0.10:9155", "sh", 0), SchedFlag2)},
		{VirtualServer: withFlags(vserver(TCP, "10.96.0.10:9156", "rr", 0), SchedFlag1|SchedFlag3)},
		{VirtualServer: vserver(TCP, "192.168.1.10:30080", "rr", 0), RealServers: []RealServer{rserver("10.244.1.1:80", 1)}},
		{VirtualServer: vserver(TCP, "172.18.0.2:30080", "rr", 0)},
		{VirtualServer: vserver(UDP, "[fd00::a]:53", "rr", 0)},
		{VirtualServer: vserver(TCP, "[fd00::a]:0", "rr", 300)},
	}
	for _, s := range services {
		must(t, k.AddVirtualServer(s.VirtualServer))
		for _, rs := range s.RealServers {
			must(t, k.AddRealServer(s.Key, rs))
		}
	}
	// Foreign entries, made by ipvsadm itself.
	run(t, "ipvsadm", "-a", "-t", "10.96.0.1:443", "-r", "10.1.2.3:6443", "-i", "-w", "1")
	run(t, "ipvsadm", "-a", "-t", "10.96.0.1:443", "-r", "10.1.2.4:6443", "-g", "-w", "2")
	run(t, "ipvsadm", "-A", "-f", "7", "-s", "rr")
	run(t, "ipvsadm", "-a", "-f", "7", "-r", "10.1.2.5", "-g", "-w", "1")

	dump, err := k.Dump()
	must(t, err)
	var fwmark []string
	var want strings.Builder
	for _, line := range strings.SplitAfter(run(t, "ipvsadm", "-Sn"), "\n") {
		if strings.Contains(line, " -f 7") {
			fwmark = append(fwmark, line)
			continue
		}
		want.WriteString(line)
	}
	if len(fwmark) != 2 {
		t.Errorf("ipvsadm -Sn shows the firewall-mark service as %q", fwmark)
	}
	if got := Format(dump); got != want.String() {
		t.Errorf("Format(Dump()):\n%s\nipvsadm -Sn (without fwmark):\n%s", got, want.String())
	}
}

func withFlags(vs VirtualServer, f SchedFlags) VirtualServer { vs.Flags = f; return vs }

// TestNewWithoutIPVS checks that New refuses a kernel without IPVS rather
// than letting moby/ipvs talk to netlink family 0, which acknowledges
// every request as a success.
func TestNewWithoutIPVS(t *testing.T) {
	if _, err := netlink.GenlFamilyGet("IPVS"); err == nil {
		t.Skip("this kernel has IPVS")
	}
	k, err := New()
	if err == nil {
		k.Close()
		t.Fatal("New succeeded on a kernel without IPVS")
	}
	t.Logf("New: %v", err)
}

func assertDump(t *testing.T, k *Kernel, want []Service) {
	t.Helper()
	got, err := k.Dump()
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Dump:\n%s\nwant:\n%s", Format(got), Format(want))
		if Format(got) == Format(want) {
			t.Errorf("Dump: %+v\nwant: %+v", got, want)
		}
	}
	assertPieces(t, k, want)
}

func TestKernelConnsAndTimeouts(t *testing.T) {
	k := newTestKernel(t)
	must(t, k.AddVirtualServer(vs4))
	a := rserver("10.244.1.5:8080", 0)
	must(t, k.AddRealServer(vs4.Key, a))
	rss, conns, err := k.RealServers(vs4.Key)
	must(t, err)
	if !reflect.DeepEqual(rss, []RealServer{a}) || conns != nil {
		t.Errorf("RealServers = %v, %v; want the weight-0 server and no connections", rss, conns)
	}
	if rss, conns, err := k.RealServers(vs6.Key); err != nil || rss != nil || conns != nil {
		t.Errorf("RealServers(missing) = %v, %v, %v; want nothing, as the fake says", rss, conns, err)
	}

	before, err := k.Timeouts()
	must(t, err)
	if before != defaultTimeouts {
		t.Errorf("fresh namespace timeouts %+v, want %+v", before, defaultTimeouts)
	}
	must(t, k.SetTimeouts(Timeouts{UDP: 30 * time.Second}))
	after, err := k.Timeouts()
	must(t, err)
	if want := (Timeouts{TCP: before.TCP, TCPFin: before.TCPFin, UDP: 30 * time.Second}); after != want {
		t.Errorf("after SetTimeouts(UDP 30s): %+v, want %+v", after, want)
	}
	if out := run(t, "ipvsadm", "-L", "--timeout"); !strings.Contains(out, "900 120 30") {
		t.Errorf("ipvsadm -L --timeout = %q", out)
	}
}

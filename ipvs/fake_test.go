package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func key(proto Protocol, addrPort string) Key {
	ap := netip.MustParseAddrPort(addrPort)
	return Key{Protocol: proto, Address: ap.Addr(), Port: ap.Port()}
}

func vserver(proto Protocol, addrPort, sched string, timeout uint32) VirtualServer {
	return VirtualServer{Key: key(proto, addrPort), Scheduler: sched, Timeout: timeout}
}

func rserver(addrPort string, weight int) RealServer {
	ap := netip.MustParseAddrPort(addrPort)
	return RealServer{RealServerKey: RealServerKey{Address: ap.Addr(), Port: ap.Port()}, Weight: weight}
}

var (
	vs4 = vserver(TCP, "10.96.0.10:80", "rr", 0)
	vs6 = vserver(UDP, "[fd00::a]:53", "wrr", 0)
	rs4 = rserver("10.244.1.5:8080", 1)
	rs6 = rserver("[fd00:244::5]:53", 1)
)

// TestFakeRules runs each kernel rule as a sequence of calls on a fresh Fake,
// the last of which must fail with want (nil: succeed).
func TestFakeRules(t *testing.T) {
	addVS := func(vs VirtualServer) func(*Fake) error {
		return func(f *Fake) error { return f.AddVirtualServer(vs) }
	}
	addRS := func(k Key, rs RealServer) func(*Fake) error {
		return func(f *Fake) error { return f.AddRealServer(k, rs) }
	}
	withWeight := func(rs RealServer, w int) RealServer { rs.Weight = w; return rs }
	tests := []struct {
		name  string
		calls []func(*Fake) error
		want  error
	}{
		{"add virtual server", []func(*Fake) error{addVS(vs4)}, nil},
		{"add existing virtual server", []func(*Fake) error{addVS(vs4), addVS(vs4)}, syscall.EEXIST},
		{"add existing virtual server with other scheduler", []func(*Fake) error{addVS(vs4), addVS(vserver(TCP, "10.96.0.10:80", "lc", 0))}, syscall.EEXIST},
		{"same address other protocol is another virtual server", []func(*Fake) error{addVS(vs4), addVS(vserver(UDP, "10.96.0.10:80", "rr", 0))}, nil},
		{"update missing virtual server", []func(*Fake) error{func(f *Fake) error { return f.UpdateVirtualServer(vs4) }}, syscall.ESRCH},
		{"delete missing virtual server", []func(*Fake) error{func(f *Fake) error { return f.DeleteVirtualServer(vs4.Key) }}, syscall.ESRCH},
		{"unknown scheduler", []func(*Fake) error{addVS(vserver(TCP, "10.96.0.10:80", "roundrobin", 0))}, syscall.ENOENT},
		{"update to unknown scheduler", []func(*Fake) error{addVS(vs4), func(f *Fake) error { return f.UpdateVirtualServer(vserver(TCP, "10.96.0.10:80", "xx", 0)) }}, syscall.ENOENT},
		{"port 0 non-persistent", []func(*Fake) error{addVS(vserver(TCP, "10.96.0.10:0", "rr", 0))}, syscall.EINVAL},
		{"port 0 persistent", []func(*Fake) error{addVS(vserver(TCP, "10.96.0.10:0", "rr", 300))}, nil},
		{"udp port 0", []func(*Fake) error{addVS(vserver(UDP, "[fd00::a]:0", "rr", 0))}, syscall.EINVAL},
		{"unknown protocol", []func(*Fake) error{addVS(vserver(Protocol(1), "10.96.0.10:80", "rr", 0))}, syscall.EPROTONOSUPPORT},
		{"ipv4-mapped virtual server", []func(*Fake) error{addVS(vserver(TCP, "[::ffff:10.96.0.10]:80", "rr", 0))}, syscall.EINVAL},
		{"add real server", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, rs4)}, nil},
		{"add real server ipv6", []func(*Fake) error{addVS(vs6), addRS(vs6.Key, rs6)}, nil},
		{"add real server to missing virtual server", []func(*Fake) error{addRS(vs4.Key, rs4)}, syscall.ESRCH},
		{"add existing real server", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, rs4), addRS(vs4.Key, withWeight(rs4, 5))}, syscall.EEXIST},
		{"ipv6 real server in ipv4 virtual server", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, rs6)}, syscall.EINVAL},
		{"ipv4 real server in ipv6 virtual server", []func(*Fake) error{addVS(vs6), addRS(vs6.Key, rs4)}, syscall.EINVAL},
		{"ipv4-mapped real server in ipv6 virtual server", []func(*Fake) error{addVS(vs6), addRS(vs6.Key, rserver("[::ffff:10.0.0.1]:53", 1))}, syscall.EINVAL},
		{"multicast real server", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, rserver("224.0.0.1:80", 1))}, syscall.EINVAL},
		{"broadcast real server", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, rserver("255.255.255.255:80", 1))}, syscall.EINVAL},
		{"link-local ipv6 real server", []func(*Fake) error{addVS(vs6), addRS(vs6.Key, rserver("[fe80::1]:53", 1))}, syscall.EINVAL},
		{"negative weight", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, withWeight(rs4, -1))}, syscall.ERANGE},
		{"weight above 65535", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, withWeight(rs4, 65536))}, syscall.ERANGE},
		{"weight 0", []func(*Fake) error{addVS(vs4), addRS(vs4.Key, withWeight(rs4, 0))}, nil},
		{"update missing real server", []func(*Fake) error{addVS(vs4), func(f *Fake) error { return f.UpdateRealServer(vs4.Key, rs4) }}, syscall.ENOENT},
		{"update real server of missing virtual server", []func(*Fake) error{func(f *Fake) error { return f.UpdateRealServer(vs4.Key, rs4) }}, syscall.ESRCH},
		{"delete missing real server", []func(*Fake) error{addVS(vs4), func(f *Fake) error { return f.DeleteRealServer(vs4.Key, rs4.RealServerKey) }}, syscall.ENOENT},
		{"delete real server of missing virtual server", []func(*Fake) error{func(f *Fake) error { return f.DeleteRealServer(vs4.Key, rs4.RealServerKey) }}, syscall.ESRCH},
		{"deleted virtual server takes its real servers", []func(*Fake) error{
			addVS(vs4), addRS(vs4.Key, rs4),
			func(f *Fake) error { return f.DeleteVirtualServer(vs4.Key) },
			addVS(vs4),
			func(f *Fake) error { return f.DeleteRealServer(vs4.Key, rs4.RealServerKey) },
		}, syscall.ENOENT},
	}
	for _, s := range schedulers {
		tests = append(tests, struct {
			name  string
			calls []func(*Fake) error
			want  error
		}{"scheduler " + s, []func(*Fake) error{addVS(vserver(TCP, "10.96.0.10:80", s, 0))}, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake()
			for i, call := range tt.calls[:len(tt.calls)-1] {
				if err := call(f); err != nil {
					t.Fatalf("setup call %d: %v", i, err)
				}
			}
			before := f.String()
			err := tt.calls[len(tt.calls)-1](f)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if after := f.String(); after != before {
				t.Errorf("a refused call changed the state:\nbefore:\n%safter:\n%s", before, after)
			}
		})
	}
}

func TestFakeErrorText(t *testing.T) {
	f := NewFake()
	must(t, f.AddVirtualServer(vs4))
	for _, tt := range []struct {
		err  error
		want string
	}{
		{f.AddVirtualServer(vs4), "add virtual server -t 10.96.0.10:80: file exists"},
		{f.UpdateVirtualServer(vs6), "update virtual server -u [fd00::a]:53: no such process"},
		{f.DeleteRealServer(vs4.Key, rs4.RealServerKey), "delete real server 10.244.1.5:8080 of -t 10.96.0.10:80: no such file or directory"},
		{f.AddRealServer(vs6.Key, rs6), "add real server [fd00:244::5]:53 of -u [fd00::a]:53: no such process"},
	} {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("got %v, want %q", tt.err, tt.want)
		}
	}
}

func TestFakeUpdatesAndDump(t *testing.T) {
	f := NewFake()
	must(t, f.AddVirtualServer(vs6))
	must(t, f.AddVirtualServer(vs4))
	must(t, f.AddRealServer(vs4.Key, rserver("10.244.2.1:8080", 1)))
	must(t, f.AddRealServer(vs4.Key, rs4))
	must(t, f.UpdateVirtualServer(vserver(TCP, "10.96.0.10:80", "sh", 10800)))
	dr := rs4
	dr.Weight, dr.Forwarding = 7, Route
	must(t, f.UpdateRealServer(vs4.Key, dr))

	got, err := f.Dump()
	must(t, err)
	want := []Service{
		{VirtualServer: vserver(TCP, "10.96.0.10:80", "sh", 10800), RealServers: []RealServer{dr, rserver("10.244.2.1:8080", 1)}},
		{VirtualServer: vs6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Dump:\n got %+v\nwant %+v", got, want)
	}
	// Dump returns copies.
	got[0].RealServers[0].Weight = 99
	if again, _ := f.Dump(); again[0].RealServers[0].Weight != 7 {
		t.Error("Dump shares memory with the Fake")
	}
	wantText := "-A -t 10.96.0.10:80 -s sh -p 10800\n" +
		"-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -g -w 7\n" +
		"-a -t 10.96.0.10:80 -r 10.244.2.1:8080 -m -w 1\n" +
		"-A -u [fd00::a]:53 -s wrr\n"
	if s := f.String(); s != wantText {
		t.Errorf("String:\n%s\nwant:\n%s", s, wantText)
	}
}

func TestFakeFailNext(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	f.FailNext(OpAddVirtualServer, syscall.ENOMEM)
	f.FailNext(OpAddVirtualServer, boom)

	err := f.AddVirtualServer(vs4)
	if !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "add virtual server -t 10.96.0.10:80") {
		t.Fatalf("first call: %v", err)
	}
	if err := f.AddVirtualServer(vs4); !errors.Is(err, boom) {
		t.Fatalf("second call: %v", err)
	}
	if s := f.String(); s != "" {
		t.Fatalf("failed calls changed the state: %q", s)
	}
	must(t, f.AddVirtualServer(vs4)) // the queue is drained
	f.FailNext(OpDump, syscall.EINTR)
	if _, err := f.Dump(); !errors.Is(err, syscall.EINTR) {
		t.Fatalf("Dump: %v", err)
	}
	if c := f.Calls(); c.AddVirtualServer != 3 || c.Dump != 1 {
		t.Errorf("calls: %+v", c)
	}
}

func TestFakeInject(t *testing.T) {
	f := NewFake()
	must(t, f.AddVirtualServer(vs4))
	must(t, f.AddVirtualServer(vs6))
	var seen []string
	f.Inject(func(op Op, k Key) error {
		seen = append(seen, fmt.Sprintf("%s %s", op, k))
		if op == OpAddRealServer && k == vs6.Key {
			return syscall.EBUSY
		}
		return nil
	})
	must(t, f.AddRealServer(vs4.Key, rs4))
	if err := f.AddRealServer(vs6.Key, rs6); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("injected: %v", err)
	}
	if _, err := f.Dump(); err != nil {
		t.Fatal(err)
	}
	f.Inject(nil)
	must(t, f.AddRealServer(vs6.Key, rs6))
	want := []string{"AddRealServer -t 10.96.0.10:80", "AddRealServer -u [fd00::a]:53", "Dump -t invalid AddrPort"}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("hook saw %q, want %q", seen, want)
	}
}

func TestFakeCalls(t *testing.T) {
	f := NewFake()
	must(t, f.AddVirtualServer(vs4))
	must(t, f.AddVirtualServer(vs6))
	must(t, f.AddRealServer(vs4.Key, rs4))
	f.ResetCalls()
	if c := f.Calls(); c.Mutations() != 0 || c.Dump != 0 || len(c.Touched) != 0 {
		t.Fatalf("after reset: %+v", c)
	}

	_, _ = f.Dump()
	must(t, f.UpdateRealServer(vs4.Key, rserver("10.244.1.5:8080", 3)))
	_ = f.DeleteRealServer(vs4.Key, rserver("10.244.9.9:80", 0).RealServerKey) // ENOENT, still a call
	must(t, f.DeleteRealServer(vs4.Key, rs4.RealServerKey))
	c := f.Calls()
	want := Calls{Dump: 1, UpdateRealServer: 1, DeleteRealServer: 2, Touched: []Key{vs4.Key}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("calls %+v, want %+v", c, want)
	}
	if c.Mutations() != 3 {
		t.Errorf("mutations %d, want 3", c.Mutations())
	}
	must(t, f.DeleteVirtualServer(vs6.Key))
	if got := f.Calls().Touched; !reflect.DeepEqual(got, []Key{vs4.Key, vs6.Key}) {
		t.Errorf("touched %v", got)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs := vserver(TCP, fmt.Sprintf("10.96.0.%d:80", i+1), "rr", 0)
			if err := f.AddVirtualServer(vs); err != nil {
				t.Error(err)
			}
			if err := f.AddRealServer(vs.Key, rs4); err != nil {
				t.Error(err)
			}
			_, _ = f.Dump()
			_ = f.String()
		}()
	}
	wg.Wait()
	c := f.Calls()
	if c.AddVirtualServer != 50 || c.AddRealServer != 50 || c.Dump != 50 || len(c.Touched) != 50 {
		t.Errorf("calls %+v", c)
	}
	if got := strings.Count(f.String(), "\n"); got != 100 {
		t.Errorf("%d lines, want 100", got)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertPieces checks that Services and RealServers (the rolling audit's
// reads) agree with want, a Dump.
func assertPieces(t *testing.T, k Interface, want []Service) {
	t.Helper()
	vss, err := k.Services()
	must(t, err)
	var wantVS []VirtualServer
	for _, s := range want {
		wantVS = append(wantVS, s.VirtualServer)
	}
	if len(vss) != len(wantVS) || (len(vss) > 0 && !reflect.DeepEqual(vss, wantVS)) {
		t.Errorf("Services: %+v\nwant: %+v", vss, wantVS)
	}
	for _, s := range want {
		rss, _, err := k.RealServers(s.Key)
		must(t, err)
		if !reflect.DeepEqual(rss, s.RealServers) {
			t.Errorf("RealServers(%s): %+v\nwant: %+v", s.Key, rss, s.RealServers)
		}
	}
}

// Services and RealServers read what Dump reads, in pieces.
func TestFakeServicesAndRealServers(t *testing.T) {
	f := NewFake()
	assertPieces(t, f, nil)
	for _, err := range []error{
		f.AddVirtualServer(vs4), f.AddVirtualServer(vs6),
		f.AddRealServer(vs4.Key, rserver("10.244.2.7:8080", 1)), f.AddRealServer(vs4.Key, rs4),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	dump, err := f.Dump()
	if err != nil {
		t.Fatal(err)
	}
	assertPieces(t, f, dump)
	missing := vserver(TCP, "10.96.9.9:80", "rr", 0)
	if rss, _, err := f.RealServers(missing.Key); rss != nil || err != nil {
		t.Errorf("RealServers of a missing virtual server: %v, %v; want nothing, as the kernel answers", rss, err)
	}
	if c := f.Calls(); c.Services != 2 || c.RealServers != 3 || c.Mutations() != 4 || len(c.Touched) != 2 {
		t.Errorf("calls: %+v", c)
	}
}

// The fake keeps a virtual server's real servers in a sorted slice: adds in
// any order, updates and deletes in the middle keep it sorted and the
// kernel's rules (EEXIST, ENOENT) hold.
func TestFakeRealServersStaySorted(t *testing.T) {
	f := NewFake()
	vs := vserver(TCP, "10.96.0.1:80", "rr", 0)
	if err := f.AddVirtualServer(vs); err != nil {
		t.Fatal(err)
	}
	vs6 := vserver(TCP, "[fd00::1]:80", "rr", 0)
	if err := f.AddVirtualServer(vs6); err != nil {
		t.Fatal(err)
	}
	rs := func(ip string, port uint16, w int) RealServer {
		return RealServer{RealServerKey: RealServerKey{Address: netip.MustParseAddr(ip), Port: port}, Weight: w}
	}
	for _, r := range []RealServer{rs("10.0.0.3", 80, 1), rs("10.0.0.1", 81, 1), rs("10.0.0.1", 80, 1), rs("10.0.0.2", 80, 1)} {
		if err := f.AddRealServer(vs.Key, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.AddRealServer(vs.Key, rs("10.0.0.2", 80, 5)); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("second add: %v, want EEXIST", err)
	}
	if err := f.UpdateRealServer(vs.Key, rs("10.0.0.2", 80, 5)); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteRealServer(vs.Key, rs("10.0.0.1", 81, 0).RealServerKey); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteRealServer(vs.Key, rs("10.0.0.1", 81, 0).RealServerKey); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("second delete: %v, want ENOENT", err)
	}
	if err := f.UpdateRealServer(vs.Key, rs("10.0.0.9", 80, 1)); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("update of a missing one: %v, want ENOENT", err)
	}
	got, _, err := f.RealServers(vs.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := []RealServer{rs("10.0.0.1", 80, 1), rs("10.0.0.2", 80, 5), rs("10.0.0.3", 80, 1)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RealServers = %v, want %v", got, want)
	}
	// IPv6 ones (a mixed list is the kernel's to refuse, not the fake's order's).
	tun := rs("fd00::9", 80, 65535)
	tun.Forwarding = Tunnel
	for _, r := range []RealServer{tun, rs("fd00::1:0", 81, 0), rs("fd00::1:0", 80, 2)} {
		if err := f.AddRealServer(vs6.Key, r); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ = f.RealServers(vs6.Key)
	want = []RealServer{tun, rs("fd00::1:0", 80, 2), rs("fd00::1:0", 81, 0)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IPv6 RealServers = %v, want %v", got, want)
	}
}

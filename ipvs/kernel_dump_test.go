//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"testing"

	mobyipvs "github.com/moby/ipvs"
)

// The dumps went through moby/ipvs (GetServices, GetDestinations) and the
// conversions below until netlink_dump.go read them over Kernel's own
// socket; they stay here as the reference the new dumps must equal.

func fromMobyService(s *mobyipvs.Service) (VirtualServer, error) {
	addr, err := addrOf(s.Address, s.AddressFamily)
	if err != nil {
		return VirtualServer{}, err
	}
	vs := VirtualServer{
		Key:       Key{Protocol: Protocol(s.Protocol), Address: addr, Port: s.Port},
		Scheduler: s.SchedName,
		Flags:     SchedFlags(s.Flags) & SchedFlagsMask,
	}
	if s.Flags&svcFlagPersistent != 0 {
		vs.Timeout = s.Timeout
	}
	return vs, nil
}

func fromMobyDestination(d *mobyipvs.Destination) (RealServer, error) {
	addr, err := addrOf(d.Address, d.AddressFamily)
	if err != nil {
		return RealServer{}, err
	}
	return RealServer{
		RealServerKey: RealServerKey{Address: addr, Port: d.Port},
		Weight:        d.Weight,
		Forwarding:    forwardingOf(d.ConnectionFlags),
	}, nil
}

func addrOf(ip net.IP, family uint16) (netip.Addr, error) {
	switch family {
	case syscall.AF_INET:
		if ip4 := ip.To4(); ip4 != nil {
			return netip.AddrFrom4([4]byte(ip4)), nil
		}
	case syscall.AF_INET6:
		if len(ip) == net.IPv6len {
			return netip.AddrFrom16([16]byte(ip)), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("address %v of family %d: %w", ip, family, syscall.EAFNOSUPPORT)
}

func fromMobyDestinations(dsts []*mobyipvs.Destination) ([]RealServer, map[RealServerKey]Conns, error) {
	var rss []RealServer
	var conns map[RealServerKey]Conns
	if len(dsts) > 0 {
		rss = make([]RealServer, 0, len(dsts))
	}
	for _, d := range dsts {
		rs, err := fromMobyDestination(d)
		if err != nil {
			return nil, nil, err
		}
		rss = append(rss, rs)
		if c := (Conns{Active: d.ActiveConnections, Inactive: d.InactiveConnections}); !c.Zero() {
			if conns == nil {
				conns = map[RealServerKey]Conns{}
			}
			conns[rs.RealServerKey] = c
		}
	}
	slices.SortFunc(rss, func(a, b RealServer) int { return a.RealServerKey.Compare(b.RealServerKey) })
	return rss, conns, nil
}

// mobyRealServers is RealServers as it was, through moby.
func (k *Kernel) mobyRealServers(key Key) ([]RealServer, map[RealServerKey]Conns, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	dsts, err := k.h.GetDestinations(k.service(VirtualServer{Key: key}))
	if errors.Is(err, syscall.ESRCH) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, vsError("dump real servers of", key, err)
	}
	return fromMobyDestinations(dsts)
}

// mobyDump is Dump as it was, through moby.
func (k *Kernel) mobyDump() ([]Service, error) {
	k.mu.Lock()
	svcs, err := k.h.GetServices()
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []Service
	for _, m := range svcs {
		if m.FWMark != 0 {
			continue
		}
		vs, err := fromMobyService(m)
		if err != nil {
			return nil, err
		}
		s := Service{VirtualServer: vs}
		s.RealServers, s.Conns, err = k.mobyRealServers(vs.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return a.Key.Compare(b.Key) })
	return out, nil
}

// dumpTable has virtual servers of both families and the three protocols,
// persistent and with scheduler flags, with 0, 1 and more real servers
// than one dump datagram holds (the kernel sends a destination with its
// statistics, ~200 bytes), of several forwarding methods and weights.
func dumpTable() []Service {
	many := func(n int, v6 bool) []RealServer {
		out := make([]RealServer, n)
		for i := range out {
			a := netip.AddrFrom4([4]byte{10, 130, byte(i >> 8), byte(i)})
			if v6 {
				a = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
			}
			out[i] = RealServer{RealServerKey: RealServerKey{Address: a, Port: uint16(8000 + i%7)}, Weight: i % 5 * 1000, Forwarding: []Forwarding{Masquerade, Tunnel, Route}[i%3]}
		}
		return out
	}
	return []Service{
		{VirtualServer: vserver(TCP, "10.96.0.10:80", "rr", 0)},
		{VirtualServer: withFlags(vserver(UDP, "10.96.0.11:53", "mh", 600), SchedFlag2), RealServers: []RealServer{rserver("10.244.0.1:53", 65535)}},
		{VirtualServer: vserver(SCTP, "10.96.0.12:9999", "sh", 0), RealServers: many(3, false)},
		{VirtualServer: vserver(TCP, "10.96.0.13:443", "wrr", 0), RealServers: many(300, false)},
		{VirtualServer: vserver(TCP, "[fd00::10]:80", "lc", 10800), RealServers: many(150, true)},
		{VirtualServer: vserver(UDP, "[fd00::11]:53", "rr", 0), RealServers: many(1, true)},
		{VirtualServer: vserver(SCTP, "[fd00::12]:9999", "rr", 0)},
	}
}

func loadTable(tb testing.TB, k *Kernel, table []Service) {
	tb.Helper()
	var ops []BatchOp
	for _, s := range table {
		ops = append(ops, BatchOp{Cmd: BatchAddVirtualServer, VirtualServer: s.VirtualServer})
		for _, rs := range s.RealServers {
			ops = append(ops, BatchOp{Cmd: BatchAddRealServer, VirtualServer: s.VirtualServer, RealServer: rs})
		}
	}
	for i, err := range k.Batch(context.Background(), ops) {
		if err != nil {
			tb.Fatalf("op %d %+v: %v", i, ops[i], err)
		}
	}
}

// The dumps over Kernel's own socket equal moby's, field for field, and
// the table loaded; firewall-mark services (which a Key cannot name) are
// left out of both.
func TestKernelDumpMatchesMoby(t *testing.T) {
	k := newTestKernel(t)
	table := dumpTable()
	loadTable(t, k, table)
	fw := &mobyipvs.Service{FWMark: 7, AddressFamily: syscall.AF_INET, SchedName: "rr", Netmask: netmaskIPv4}
	k.mu.Lock()
	err := k.h.NewService(fw)
	if err == nil {
		err = k.h.NewDestination(fw, &mobyipvs.Destination{AddressFamily: syscall.AF_INET, Address: net.ParseIP("10.244.9.9").To4(), Port: 80, Weight: 1})
	}
	k.mu.Unlock()
	must(t, err)

	got, err := k.Dump()
	must(t, err)
	want, err := k.mobyDump()
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Dump:\n%v\nmoby's:\n%v", Format(got), Format(want))
	}
	slices.SortFunc(table, func(a, b Service) int { return a.Key.Compare(b.Key) })
	for i := range table {
		slices.SortFunc(table[i].RealServers, func(a, b RealServer) int { return a.RealServerKey.Compare(b.RealServerKey) })
	}
	if !reflect.DeepEqual(got, table) {
		t.Errorf("Dump:\n%v\nloaded:\n%v", Format(got), Format(table))
	}

	vss, err := k.Services()
	must(t, err)
	if len(vss) != len(table) {
		t.Errorf("Services: %d, want %d", len(vss), len(table))
	}
	for i, vs := range vss {
		if vs != table[i].VirtualServer {
			t.Errorf("Services[%d] = %v, want %v", i, vs, table[i].VirtualServer)
		}
	}
	missing := vserver(TCP, "10.96.9.9:80", "rr", 0).Key
	for _, key := range append([]Key{missing}, keys(table)...) {
		rss, conns, err := k.RealServers(key)
		mrss, mconns, merr := k.mobyRealServers(key)
		if !reflect.DeepEqual(rss, mrss) || !reflect.DeepEqual(conns, mconns) || fmt.Sprint(err) != fmt.Sprint(merr) {
			t.Errorf("RealServers(%v) = %d, %v, %v; moby's %d, %v, %v", key, len(rss), conns, err, len(mrss), mconns, merr)
		}
	}
	most := 0
	for _, s := range got {
		most = max(most, len(s.RealServers))
	}
	if most != 300 {
		t.Errorf("at most %d real servers per virtual server, want 300 (a dump of several datagrams)", most)
	}
}

func keys(table []Service) []Key {
	out := make([]Key, len(table))
	for i, s := range table {
		out[i] = s.Key
	}
	return out
}

// A dump runs while a batch is being applied (the audit reads off the
// Runner's goroutine): each on its own socket, neither loses the other's
// replies nor waits for it.
func TestKernelDumpDuringBatch(t *testing.T) {
	k := newTestKernel(t)
	table := dumpTable()
	loadTable(t, k, table)
	big := vserver(TCP, "10.96.1.1:80", "rr", 0)
	ops := []BatchOp{{Cmd: BatchAddVirtualServer, VirtualServer: big}}
	for i := range 2000 {
		ops = append(ops, BatchOp{Cmd: BatchAddRealServer, VirtualServer: big,
			RealServer: RealServer{RealServerKey: RealServerKey{Address: netip.AddrFrom4([4]byte{10, 131, byte(i >> 8), byte(i)}), Port: 80}, Weight: 1}})
	}
	want, _, err := k.RealServers(table[3].Key)
	must(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	dumps := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, _, err := k.RealServers(table[3].Key)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("RealServers during a batch: %d, %v", len(got), err)
				return
			}
			dumps++
		}
	}()
	errs := k.Batch(context.Background(), ops)
	close(stop)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if len(errs) != len(ops) {
		t.Fatalf("%d results for %d ops", len(errs), len(ops))
	}
	rss, _, err := k.RealServers(big.Key)
	must(t, err)
	t.Logf("%d dumps of %d real servers while a batch of %d ops ran", dumps, len(want), len(ops))
	if len(rss) != 2000 {
		t.Errorf("after the batch: %d real servers, want 2000", len(rss))
	}
}

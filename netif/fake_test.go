package netif

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

// freshNetns is a Fake holding what a new network namespace holds.
func freshNetns(*testing.T) Interface {
	f := NewFake()
	f.AddLink("lo", "device")
	return f
}

func TestFakeRules(t *testing.T) {
	runRules(t, freshNetns)
}

func TestFakeEnsureDummySetsUp(t *testing.T) {
	f := NewFake()
	f.AddLink("kube-ipvs0", "dummy", netip.MustParseAddr("10.96.0.1"))
	if !f.SetUp("kube-ipvs0", false) {
		t.Fatal("SetUp: no link")
	}
	if err := f.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	want := []Link{{Name: "kube-ipvs0", Kind: "dummy", Up: true, Addrs: []netip.Addr{netip.MustParseAddr("10.96.0.1")}}}
	if got := f.Links(); !slices.EqualFunc(got, want, linkEqual) {
		t.Fatalf("links = %+v, want %+v", got, want)
	}
	if c := f.Calls(); c.CreateLink != 0 {
		t.Fatalf("EnsureDummy recreated an existing dummy: %+v", c)
	}
	if f.SetUp("nosuch", true) {
		t.Fatal("SetUp of a missing link reported success")
	}
}

func linkEqual(a, b Link) bool {
	return a.Name == b.Name && a.Kind == b.Kind && a.Up == b.Up && slices.Equal(a.Addrs, b.Addrs)
}

func TestFakeAddLink(t *testing.T) {
	f := NewFake()
	f.AddLink("eth0", "device", netip.MustParseAddr("192.168.1.10"))
	f.AddLink("eth0", "ignored", netip.MustParseAddr("fd00::10"))
	f.AddLink("lo", "device", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"))
	got, err := f.LocalAddresses("kube-ipvs0")
	if err != nil {
		t.Fatal(err)
	}
	want := []Address{on("eth0", "192.168.1.10"), on("eth0", "fd00::10"), on("lo", "127.0.0.1"), on("lo", "::1")}
	if !slices.Equal(got, want) {
		t.Fatalf("local addresses = %v, want %v", got, want)
	}
	if k := f.Links()[0].Kind; k != "device" {
		t.Fatalf("AddLink of an existing link changed its kind to %q", k)
	}
	for _, bad := range []func(){
		func() { f.AddLink("much-too-long-name", "dummy") },
		func() { f.AddLink("eth1", "device", netip.Addr{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("AddLink accepted what the kernel refuses")
				}
			}()
			bad()
		}()
	}
}

func TestFakeFailNext(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	a := netip.MustParseAddr("10.96.0.10")
	calls := []struct {
		op   Op
		call func() error
	}{
		{OpEnsureDummy, func() error { return f.EnsureDummy("kube-ipvs0") }},
		{OpAddAddress, func() error { return f.AddAddress("kube-ipvs0", a) }},
		{OpAddresses, func() error { _, err := f.Addresses("kube-ipvs0"); return err }},
		{OpLocalAddresses, func() error { _, err := f.LocalAddresses("kube-ipvs0"); return err }},
		{OpDelAddress, func() error { return f.DelAddress("kube-ipvs0", a) }},
	}
	for _, c := range calls {
		f.FailNext(c.op, boom)
		f.FailNext(c.op, boom)
		for i := 0; i < 2; i++ {
			if err := c.call(); err != boom {
				t.Fatalf("%s after FailNext, call %d: %v, want the injected error", c.op, i, err)
			}
		}
		if err := c.call(); err != nil {
			t.Fatalf("%s once the faults are used up: %v", c.op, err)
		}
	}
	want := Calls{EnsureDummy: 3, CreateLink: 1, Addresses: 3, AddAddress: 3, DelAddress: 3, LocalAddresses: 3}
	if got := f.Calls(); got != want {
		t.Fatalf("calls = %+v, want %+v", got, want)
	}
	if l := f.Links(); len(l) != 1 || len(l[0].Addrs) != 0 {
		t.Fatalf("links = %+v, want kube-ipvs0 without addresses", l)
	}
	f.ResetCalls()
	if got := f.Calls(); got != (Calls{}) {
		t.Fatalf("calls after reset = %+v", got)
	}
}

// Run with -race: concurrent use must be safe.
func TestFakeConcurrent(t *testing.T) {
	f := NewFake()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f.EnsureDummy("kube-ipvs0")
			for i := 0; i < 100; i++ {
				a := netip.MustParseAddr(fmt.Sprintf("10.96.%d.%d", g, i))
				_ = f.AddAddress("kube-ipvs0", a)
				_, _ = f.LocalAddresses("kube-ipvs0")
				_ = f.Links()
				if i%2 == 0 {
					_ = f.DelAddress("kube-ipvs0", a)
				}
			}
		}()
	}
	wg.Wait()
	got, err := f.Addresses("kube-ipvs0")
	if err != nil || len(got) != 400 {
		t.Fatalf("addresses: %d, %v; want 400", len(got), err)
	}
}

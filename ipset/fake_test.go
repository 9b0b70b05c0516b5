package ipset

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
)

func TestFakeRules(t *testing.T) {
	runRules(t, func(*testing.T) Interface { return NewFake() })
}

func TestFakeDestroyReferenced(t *testing.T) {
	f := NewFake()
	if err := f.Ensure(v4Port); err != nil {
		t.Fatal(err)
	}
	f.Reference(v4Port.Name)
	f.Reference(v4Port.Name)
	for i := 0; i < 2; i++ {
		err := f.Destroy(v4Port.Name)
		if !errors.Is(err, ErrBusy) || !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("destroy with %d references: %v, want ErrBusy and EBUSY", 2-i, err)
		}
		f.Unreference(v4Port.Name)
	}
	if err := f.Destroy(v4Port.Name); err != nil {
		t.Fatalf("destroy unreferenced: %v", err)
	}
	if sets := f.Sets(); len(sets) != 0 {
		t.Fatalf("sets after destroy: %v", sets)
	}
}

func TestFakeFailNext(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	calls := []struct {
		op   Op
		call func() error
	}{
		{OpEnsure, func() error { return f.Ensure(v4Port) }},
		{OpAdd, func() error { return f.Add(v4Port.Name, ep("10.0.0.1", "tcp", 80)) }},
		{OpList, func() error { _, err := f.List(v4Port.Name); return err }},
		{OpDel, func() error { return f.Del(v4Port.Name, ep("10.0.0.1", "tcp", 80)) }},
		{OpDestroy, func() error { return f.Destroy(v4Port.Name) }},
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
	// The injected failures had no effect: the set was created by the third
	// Ensure, the entry added by the third Add and removed by the third Del.
	if got := f.Calls(); got != (Calls{Ensure: 3, Create: 1, List: 3, Add: 3, Del: 3, Destroy: 3}) {
		t.Fatalf("calls = %+v", got)
	}
	if sets := f.Sets(); len(sets) != 0 {
		t.Fatalf("sets = %v, want none", sets)
	}
}

// FailNext for the calls Grow makes.
func TestFakeFailNextGrowCalls(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	tmp := named(v4Port, v4Port.Name+TempSuffix)
	mustDo(t, f.Ensure(v4Port), f.Ensure(tmp))
	f.ResetCalls()
	for _, c := range []struct {
		op   Op
		call func() error
	}{
		{OpInfo, func() error { _, err := f.Info(v4Port.Name); return err }},
		{OpAddAll, func() error { return f.AddAll(v4Port.Name, portEntries(2)) }},
		{OpSwap, func() error { return f.Swap(v4Port.Name, tmp.Name) }},
	} {
		f.FailNext(c.op, boom)
		if err := c.call(); err != boom {
			t.Fatalf("%s after FailNext: %v, want the injected error", c.op, err)
		}
		if err := c.call(); err != nil {
			t.Fatalf("%s once the fault is used up: %v", c.op, err)
		}
	}
	assertMembers(t, f, tmp.Name, portEntries(2))                               // one AddAll, one Swap took effect
	if got := f.Calls(); got != (Calls{Info: 2, AddAll: 2, Swap: 2, List: 1}) { // List: assertMembers
		t.Fatalf("calls = %+v", got)
	}
}

func TestFakeCalls(t *testing.T) {
	f := NewFake()
	_ = f.Ensure(v4Port)
	_ = f.Ensure(v4Port)
	_ = f.Add(v4Port.Name, ep("10.0.0.1", "tcp", 80))
	_ = f.Add("MISSING", ep("10.0.0.1", "tcp", 80))
	_, _ = f.List(v4Port.Name)
	_ = f.Del(v4Port.Name, ep("10.0.0.1", "tcp", 80))
	_ = f.Destroy(v4Port.Name)
	if got, want := f.Calls(), (Calls{Ensure: 2, Create: 1, List: 1, Add: 2, Del: 1, Destroy: 1}); got != want {
		t.Fatalf("calls = %+v, want %+v", got, want)
	}
	f.ResetCalls()
	if got := f.Calls(); got != (Calls{}) {
		t.Fatalf("calls after reset = %+v", got)
	}
}

func TestFakeDelChecksEntryShape(t *testing.T) {
	f := NewFake()
	_ = f.Ensure(v6Port)
	if err := f.Del(v6Port.Name, ep("10.0.0.1", "tcp", 80)); err == nil {
		t.Fatal("del of an IPv4 entry from an inet6 set succeeded")
	}
}

func TestFakeFull(t *testing.T) {
	f := NewFake()
	_ = f.Ensure(v4Port)
	for i := 0; i < MaxElem; i++ {
		e := ep("10.0.0.1", "tcp", uint16(i))
		if err := f.Add(v4Port.Name, e); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := f.Add(v4Port.Name, ep("10.0.0.2", "tcp", 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("add beyond maxelem %d: %v, want ErrFull", MaxElem, err)
	}
	if err := f.Add(v4Port.Name, ep("10.0.0.1", "tcp", 1)); err != nil {
		t.Fatalf("re-adding a member of a full set: %v", err)
	}
}

func TestFakeSave(t *testing.T) {
	f := NewFake()
	for _, s := range []Set{v6Port, v4Port, v4PortIP} {
		if err := f.Ensure(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []Entry{ep("10.96.0.10", "udp", 53), ep("10.96.0.1", "tcp", 443), ep("10.96.0.10", "tcp", 53)} {
		_ = f.Add(v4Port.Name, e)
	}
	_ = f.Add(v6Port.Name, ep("fd00::a", "sctp", 80))
	_ = f.Add(v4PortIP.Name, epi("10.244.1.5", "tcp", 8080, "10.244.1.5"))
	want := `create T-V4-PORT hash:ip,port family inet hashsize 1024 maxelem 65536
add T-V4-PORT 10.96.0.1,tcp:443
add T-V4-PORT 10.96.0.10,tcp:53
add T-V4-PORT 10.96.0.10,udp:53
create T-V4-PORT-IP hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add T-V4-PORT-IP 10.244.1.5,tcp:8080,10.244.1.5
create T-V6-PORT hash:ip,port family inet6 hashsize 1024 maxelem 65536
add T-V6-PORT fd00::a,sctp:80
`
	if got := f.Save(); got != want {
		t.Fatalf("Save:\n%s\nwant:\n%s", got, want)
	}
	if got := f.String(); got != want {
		t.Fatalf("String differs from Save:\n%s", got)
	}
}

// Run with -race: concurrent use must be safe.
func TestFakeConcurrent(t *testing.T) {
	f := NewFake()
	_ = f.Ensure(v4Port)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				e := ep(fmt.Sprintf("10.0.%d.%d", g, i), "tcp", 80)
				_ = f.Add(v4Port.Name, e)
				_, _ = f.List(v4Port.Name)
				_ = f.Save()
				if i%2 == 0 {
					_ = f.Del(v4Port.Name, e)
				}
			}
		}()
	}
	wg.Wait()
	got, err := f.List(v4Port.Name)
	if err != nil || len(got) != 8*50 {
		t.Fatalf("list: %d entries, %v; want 400", len(got), err)
	}
}

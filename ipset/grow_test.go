package ipset

import (
	"errors"
	"slices"
	"testing"
)

// growRules are the Grow cases both the Fake and the Kernel run.
func runGrowRules(t *testing.T, newIface func(t *testing.T) Interface) {
	t.Run("grow keeps every member and takes the new size", func(t *testing.T) {
		ifc := newIface(t)
		s := sized(v4Port, 8, 0)
		members := portEntries(8)
		mustDo(t, ifc.Ensure(s), ifc.AddAll(s.Name, members))
		if err := ifc.Add(s.Name, ep("10.9.9.9", "tcp", 1)); !errors.Is(err, ErrFull) {
			t.Fatalf("add to the full set: %v, want ErrFull", err)
		}
		got, err := ifc.List(s.Name)
		mustDo(t, err)
		if err := Grow(ifc, Sized(s, 9), got); err != nil {
			t.Fatal(err)
		}
		info, err := ifc.Info(s.Name)
		mustDo(t, err)
		if info.MaxElem != MaxElem || info.Size != 8 || !info.Same(s) {
			t.Fatalf("after grow: %+v, want maxelem %d and 8 members", info, MaxElem)
		}
		assertMembers(t, ifc, s.Name, members)
		mustDo(t, ifc.Add(s.Name, ep("10.9.9.9", "tcp", 1)))
		if _, err := ifc.Info(s.Name + TempSuffix); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the temporary set is left: %v", err)
		}
	})
	t.Run("grow removes a left-over temporary first", func(t *testing.T) {
		ifc := newIface(t)
		tmp := named(v6PortIP, v6PortIP.Name+TempSuffix)
		e := epi("fd00::1", "tcp", 80, "fd00::1")
		mustDo(t, ifc.Ensure(v6PortIP), ifc.Add(v6PortIP.Name, e),
			ifc.Ensure(tmp), ifc.Add(tmp.Name, epi("fd00::9", "tcp", 80, "fd00::9")))
		mustDo(t, Grow(ifc, sized(v6PortIP, 100000, 0), []Entry{e}))
		assertMembers(t, ifc, v6PortIP.Name, []Entry{e})
		if info, err := ifc.Info(v6PortIP.Name); err != nil || info.MaxElem != 100000 {
			t.Fatalf("after grow: %+v, %v", info, err)
		}
	})
	t.Run("grow fails cleanly when the members do not fit", func(t *testing.T) {
		ifc := newIface(t)
		s := sized(v4Port, 4, 0)
		mustDo(t, ifc.Ensure(s), ifc.AddAll(s.Name, portEntries(4)))
		if err := Grow(ifc, sized(s, 2, 0), portEntries(4)); !errors.Is(err, ErrFull) {
			t.Fatalf("grow into a smaller set: %v, want ErrFull", err)
		}
		assertMembers(t, ifc, s.Name, portEntries(4))
		if _, err := ifc.Info(s.Name + TempSuffix); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the temporary set is left: %v", err)
		}
	})
	t.Run("grow of a missing set fails", func(t *testing.T) {
		ifc := newIface(t)
		if err := Grow(ifc, v4Port, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("grow of a missing set: %v, want ErrNotFound", err)
		}
		if _, err := ifc.Info(v4Port.Name + TempSuffix); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the temporary set is left: %v", err)
		}
	})
}

func TestFakeGrowRules(t *testing.T) {
	runGrowRules(t, func(*testing.T) Interface { return NewFake() })
}

// A set a rule references cannot be destroyed and made anew, but it can grow:
// the reference stays with the name.
func TestFakeGrowReferenced(t *testing.T) {
	f := NewFake()
	s := sized(v4Port, 2, 0)
	mustDo(t, f.Ensure(s), f.AddAll(s.Name, portEntries(2)))
	f.Reference(s.Name)
	if err := f.Destroy(s.Name); !errors.Is(err, ErrBusy) {
		t.Fatalf("destroy of a referenced set: %v", err)
	}
	mustDo(t, Grow(f, Sized(s, 3), portEntries(2)))
	info, err := f.Info(s.Name)
	if err != nil || info.References != 1 || info.MaxElem != MaxElem || info.Size != 2 {
		t.Fatalf("after grow: %+v, %v; want 1 reference, maxelem %d, 2 members", info, err, MaxElem)
	}
	if c := f.Calls(); c.Swap != 1 || c.Destroy != 3 || c.Create != 2 {
		t.Fatalf("calls %+v: want one swap, the temporary created once and destroyed twice", c)
	}
}

func mustDo(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func assertMembers(t *testing.T, ifc Interface, name string, want []Entry) {
	t.Helper()
	got, err := ifc.List(name)
	mustDo(t, err)
	slices.SortFunc(got, Entry.Compare)
	want = slices.SortedFunc(slices.Values(want), Entry.Compare)
	if !slices.Equal(got, want) {
		t.Fatalf("members of %s: %v, want %v", name, got, want)
	}
}

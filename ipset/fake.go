package ipset

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Op names an Interface method, for Fake.FailNext.
type Op string

// The operations of Interface.
const (
	OpEnsure  Op = "ensure"
	OpList    Op = "list"
	OpAdd     Op = "add"
	OpDel     Op = "del"
	OpDestroy Op = "destroy"
)

// Calls counts the calls a Fake received, failed ones included, and the sets
// Ensure actually created.
type Calls struct {
	Ensure, Create, List, Add, Del, Destroy int
}

// Fake is an in-memory Interface that refuses what the kernel refuses: names
// over 31 bytes, operations on missing sets, entries that do not fit the
// set's type or family, Ensure over a set of another type or family, and
// Destroy of a referenced set. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	sets   map[string]*fakeSet
	refs   map[string]int
	calls  Calls
	faults map[Op][]error
}

type fakeSet struct {
	set     Set
	entries map[Entry]struct{}
}

var _ Interface = (*Fake)(nil)

// NewFake returns a Fake without sets.
func NewFake() *Fake {
	return &Fake{sets: map[string]*fakeSet{}, refs: map[string]int{}, faults: map[Op][]error{}}
}

// FailNext makes the next call of op return err, before it has any effect.
// Calls queue: FailNext twice fails the next two calls.
func (f *Fake) FailNext(op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], err)
}

// Calls returns the counts so far.
func (f *Fake) Calls() Calls {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// ResetCalls zeroes the counts, e.g. after setting up the state under test.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = Calls{}
}

// Reference marks the set as used by a rule (as an iptables -m set match
// would), so that Destroy fails with ErrBusy until Unreference.
func (f *Fake) Reference(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs[name]++
}

// Unreference drops a reference taken with Reference.
func (f *Fake) Unreference(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refs[name] > 1 {
		f.refs[name]--
	} else {
		delete(f.refs, name)
	}
}

// Sets returns the sets, sorted by name.
func (f *Fake) Sets() []Set {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sets []Set
	for _, name := range slices.Sorted(maps.Keys(f.sets)) {
		sets = append(sets, f.sets[name].set)
	}
	return sets
}

// fault pops the next injected error of op and counts the call.
func (f *Fake) fault(op Op, count *int) error {
	*count++
	q := f.faults[op]
	if len(q) == 0 {
		return nil
	}
	f.faults[op] = q[1:]
	return q[0]
}

// Ensure implements Interface.
func (f *Fake) Ensure(s Set) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpEnsure, &f.calls.Ensure); err != nil {
		return err
	}
	if err := validateSet(s); err != nil {
		return fmt.Errorf("ipset ensure: %w", err)
	}
	if old, ok := f.sets[s.Name]; ok {
		if old.set != s {
			return fmt.Errorf("ipset ensure %s: exists as %s family %s, want %s family %s: %w",
				s.Name, old.set.Type, old.set.Family, s.Type, s.Family, ErrConflict)
		}
		return nil
	}
	f.calls.Create++
	f.sets[s.Name] = &fakeSet{set: s, entries: map[Entry]struct{}{}}
	return nil
}

// lookup finds a set, with the kernel's error for a missing one.
func (f *Fake) lookup(op Op, name string) (*fakeSet, error) {
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("ipset %s: %w", op, err)
	}
	s, ok := f.sets[name]
	if !ok {
		return nil, fmt.Errorf("ipset %s %s: %w (%w)", op, name, ErrNotFound, syscall.ENOENT)
	}
	return s, nil
}

// List implements Interface; entries come sorted.
func (f *Fake) List(name string) ([]Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpList, &f.calls.List); err != nil {
		return nil, err
	}
	s, err := f.lookup(OpList, name)
	if err != nil {
		return nil, err
	}
	return slices.SortedFunc(maps.Keys(s.entries), Entry.Compare), nil
}

// Add implements Interface.
func (f *Fake) Add(name string, e Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpAdd, &f.calls.Add); err != nil {
		return err
	}
	s, err := f.lookup(OpAdd, name)
	if err != nil {
		return err
	}
	if err := validateEntryFor(s.set, e); err != nil {
		return fmt.Errorf("ipset add %s: %w", name, err)
	}
	if _, ok := s.entries[e]; ok {
		return nil
	}
	if len(s.entries) >= MaxElem {
		return fmt.Errorf("ipset add %s %s: %w (maxelem %d)", name, e, ErrFull, MaxElem)
	}
	s.entries[e] = struct{}{}
	return nil
}

// Del implements Interface.
func (f *Fake) Del(name string, e Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpDel, &f.calls.Del); err != nil {
		return err
	}
	s, err := f.lookup(OpDel, name)
	if err != nil {
		return err
	}
	if err := validateEntryFor(s.set, e); err != nil {
		return fmt.Errorf("ipset del %s: %w", name, err)
	}
	delete(s.entries, e)
	return nil
}

// Destroy implements Interface.
func (f *Fake) Destroy(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpDestroy, &f.calls.Destroy); err != nil {
		return err
	}
	if err := validateName(name); err != nil {
		return fmt.Errorf("ipset destroy: %w", err)
	}
	if _, ok := f.sets[name]; !ok {
		return nil
	}
	if f.refs[name] > 0 {
		return fmt.Errorf("ipset destroy %s: %w (%w)", name, ErrBusy, syscall.EBUSY)
	}
	delete(f.sets, name)
	return nil
}

// Save renders every set in `ipset save` syntax: sets sorted by name, each a
// create line with the standard options followed by its FormatMembers lines.
func (f *Fake) Save() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(f.sets)) {
		s := f.sets[name]
		b.WriteString(formatCreate(s.set))
		b.WriteString(FormatMembers(name, slices.Collect(maps.Keys(s.entries))))
	}
	return b.String()
}

// String is Save.
func (f *Fake) String() string { return f.Save() }

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
	OpInfo    Op = "info"
	OpList    Op = "list"
	OpAdd     Op = "add"
	OpAddAll  Op = "addall"
	OpDel     Op = "del"
	OpDestroy Op = "destroy"
	OpSwap    Op = "swap"
)

// Calls counts the calls a Fake received, failed ones included, and the sets
// Ensure actually created.
type Calls struct {
	Ensure, Create, Info, List, Add, AddAll, Del, Destroy, Swap int
}

// Fake is an in-memory Interface that refuses what the kernel refuses: names
// over 31 bytes, operations on missing sets, entries that do not fit the
// set's type or family, a new member of a full set, Ensure over a set of
// another type or family, Swap of sets of different types or families, and
// Destroy of a referenced set. References (Reference) belong to names, as the
// kernel's do: a Swap leaves them where they are. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	sets   map[string]*fakeSet
	refs   map[string]int
	calls  Calls
	faults map[Op][]error
	// batches counts Batch calls (batch.go).
	batches int
}

type fakeSet struct {
	set     Set
	entries fakeEntries
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
		if !old.set.Same(s) {
			return fmt.Errorf("ipset ensure %s: exists as %s family %s, want %s family %s: %w",
				s.Name, old.set.Type, old.set.Family, s.Type, s.Family, ErrConflict)
		}
		return nil
	}
	if s.MaxElem < 0 || s.HashSize < 0 {
		return fmt.Errorf("ipset create %s: negative maxelem %d or hashsize %d", s.Name, s.MaxElem, s.HashSize)
	}
	s = s.Sizes()
	s.HashSize = pow2AtLeast(max(s.HashSize, 64)) // as the kernel rounds it
	f.calls.Create++
	f.sets[s.Name] = &fakeSet{set: s, entries: newFakeEntries()}
	return nil
}

// Info implements Interface.
func (f *Fake) Info(name string) (Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpInfo, &f.calls.Info); err != nil {
		return Info{}, err
	}
	s, err := f.lookup(OpInfo, name)
	if err != nil {
		return Info{}, err
	}
	return Info{Set: s.set, Size: s.entries.len(), References: f.refs[name]}, nil
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
	return slices.SortedFunc(s.entries.all(), Entry.Compare), nil
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
	return s.add(e)
}

// add adds e as the kernel does: an existing member is kept, a new one
// refused when the set holds MaxElem members. (The kernel counts per lock
// region of its hash table once the table has several, about one region per
// 1,024 buckets, and may take a few members more before it refuses; the
// Fake is the strict reading, which is what sizing must plan for.)
func (s *fakeSet) add(e Entry) error {
	if err := validateEntryFor(s.set, e); err != nil {
		return fmt.Errorf("ipset add %s: %w", s.set.Name, err)
	}
	if s.entries.has(e) {
		return nil
	}
	if s.entries.len() >= s.set.MaxElem {
		return fmt.Errorf("ipset add %s %s: %w (maxelem %d)", s.set.Name, e, ErrFull, s.set.MaxElem)
	}
	s.entries.add(e)
	return nil
}

// AddAll implements Interface.
func (f *Fake) AddAll(name string, entries []Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpAddAll, &f.calls.AddAll); err != nil {
		return err
	}
	s, err := f.lookup(OpAddAll, name)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := s.add(e); err != nil {
			return err
		}
	}
	return nil
}

// Swap implements Interface.
func (f *Fake) Swap(a, b string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpSwap, &f.calls.Swap); err != nil {
		return err
	}
	for _, n := range []string{a, b} {
		if err := validateName(n); err != nil {
			return fmt.Errorf("ipset swap: %w", err)
		}
	}
	sa, sb := f.sets[a], f.sets[b]
	if sa == nil || sb == nil {
		return fmt.Errorf("ipset swap %s %s: %w (%w)", a, b, ErrNotFound, syscall.ENOENT)
	}
	if sa.set.Type != sb.set.Type || sa.set.Family != sb.set.Family {
		return fmt.Errorf("ipset swap %s %s: %s family %s and %s family %s: %w",
			a, b, sa.set.Type, sa.set.Family, sb.set.Type, sb.set.Family, ErrConflict)
	}
	sa.set.Name, sb.set.Name = b, a
	f.sets[a], f.sets[b] = sb, sa
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
	s.entries.delete(e)
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
// create line with its options followed by its FormatMembers lines.
func (f *Fake) Save() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(f.sets)) {
		s := f.sets[name]
		b.WriteString(formatCreate(s.set))
		b.WriteString(FormatMembers(name, slices.Collect(s.entries.all())))
	}
	return b.String()
}

// String is Save.
func (f *Fake) String() string { return f.Save() }

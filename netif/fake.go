package netif

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// Op names an Interface method, for Fake.FailNext.
type Op string

// The operations of Interface.
const (
	OpEnsureDummy    Op = "ensure-dummy"
	OpAddresses      Op = "addresses"
	OpAddAddress     Op = "add-address"
	OpDelAddress     Op = "del-address"
	OpLocalAddresses Op = "local-addresses"
)

// Calls counts the calls a Fake received, failed ones included, and the
// links EnsureDummy actually created.
type Calls struct {
	EnsureDummy, CreateLink, Addresses, AddAddress, DelAddress, LocalAddresses int
}

// Link is a Fake's view of a link.
type Link struct {
	Name  string
	Kind  string // "dummy", "device", "loopback", ...
	Up    bool
	Addrs []netip.Addr // sorted
}

// Fake is an in-memory Interface with the kernel's rules: link names of at
// most 15 bytes without '/', ':' or white space; addresses only on existing
// links (ENODEV otherwise); EnsureDummy over a link of another kind is an
// ErrConflict. It does not give links the IPv6 link-local address the kernel
// gives them when they come up. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	links  map[string]*fakeLink
	calls  Calls
	faults map[Op][]error
	// batches counts Batch calls (batch.go).
	batches int
}

type fakeLink struct {
	kind  string
	up    bool
	addrs map[netip.Addr]struct{}
}

var _ Interface = (*Fake)(nil)

// NewFake returns a Fake without links (not even lo).
func NewFake() *Fake {
	return &Fake{links: map[string]*fakeLink{}, faults: map[Op][]error{}}
}

// AddLink sets up the state under test: a link of kind, up, carrying addrs
// (added to those it has if it exists). It panics on what the kernel refuses.
func (f *Fake) AddLink(name, kind string, addrs ...netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := validateLinkName(name); err != nil {
		panic(err)
	}
	l, ok := f.links[name]
	if !ok {
		l = &fakeLink{kind: kind, up: true, addrs: map[netip.Addr]struct{}{}}
		f.links[name] = l
	}
	for _, a := range addrs {
		if err := validateAddr(a); err != nil {
			panic(err)
		}
		l.addrs[a] = struct{}{}
	}
}

// SetUp sets a link up or down; false if there is no such link.
func (f *Fake) SetUp(name string, up bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[name]
	if ok {
		l.up = up
	}
	return ok
}

// Links returns the links, sorted by name.
func (f *Fake) Links() []Link {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Link
	for _, name := range slices.Sorted(maps.Keys(f.links)) {
		l := f.links[name]
		out = append(out, Link{Name: name, Kind: l.kind, Up: l.up, Addrs: slices.SortedFunc(maps.Keys(l.addrs), netip.Addr.Compare)})
	}
	return out
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

// link finds a link, with the kernel's error for a missing one.
func (f *Fake) link(name string) (*fakeLink, error) {
	if err := validateLinkName(name); err != nil {
		return nil, err
	}
	l, ok := f.links[name]
	if !ok {
		return nil, fmt.Errorf("link %s: %w", name, syscall.ENODEV)
	}
	return l, nil
}

// EnsureDummy implements Interface.
func (f *Fake) EnsureDummy(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpEnsureDummy, &f.calls.EnsureDummy); err != nil {
		return err
	}
	if err := validateLinkName(name); err != nil {
		return fmt.Errorf("netif: %w", err)
	}
	l, ok := f.links[name]
	switch {
	case !ok:
		f.calls.CreateLink++
		f.links[name] = &fakeLink{kind: "dummy", up: true, addrs: map[netip.Addr]struct{}{}}
	case l.kind != "dummy":
		return fmt.Errorf("netif: link %s exists with type %s, want dummy: %w", name, l.kind, ErrConflict)
	default:
		l.up = true
	}
	return nil
}

// Addresses implements Interface.
func (f *Fake) Addresses(link string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpAddresses, &f.calls.Addresses); err != nil {
		return nil, err
	}
	l, err := f.link(link)
	if err != nil {
		return nil, fmt.Errorf("netif: addresses: %w", err)
	}
	return slices.SortedFunc(maps.Keys(l.addrs), netip.Addr.Compare), nil
}

// AddAddress implements Interface.
func (f *Fake) AddAddress(link string, addr netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpAddAddress, &f.calls.AddAddress); err != nil {
		return err
	}
	if err := validateAddr(addr); err != nil {
		return fmt.Errorf("netif: add address to %s: %w", link, err)
	}
	l, err := f.link(link)
	if err != nil {
		return fmt.Errorf("netif: add address %s: %w", addr, err)
	}
	l.addrs[addr] = struct{}{}
	return nil
}

// DelAddress implements Interface.
func (f *Fake) DelAddress(link string, addr netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpDelAddress, &f.calls.DelAddress); err != nil {
		return err
	}
	if err := validateAddr(addr); err != nil {
		return fmt.Errorf("netif: delete address from %s: %w", link, err)
	}
	l, err := f.link(link)
	if err != nil {
		return fmt.Errorf("netif: delete address %s: %w", addr, err)
	}
	delete(l.addrs, addr)
	return nil
}

// LocalAddresses implements Interface: every address of every link, sorted
// by link name and address.
func (f *Fake) LocalAddresses(except string) ([]Address, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpLocalAddresses, &f.calls.LocalAddresses); err != nil {
		return nil, err
	}
	var out []Address
	for name, l := range f.links {
		if name == except {
			continue
		}
		for a := range l.addrs {
			out = append(out, Address{Link: name, Addr: a})
		}
	}
	slices.SortFunc(out, func(a, b Address) int {
		return cmp.Or(cmp.Compare(a.Link, b.Link), a.Addr.Compare(b.Addr))
	})
	return out, nil
}

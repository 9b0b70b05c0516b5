package ipset

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// The rules both the Kernel and the Fake must follow. The Fake's tests run
// them against a Fake, the kernel tests against the Kernel in a fresh network
// namespace per case, so the Fake is checked against the kernel it models.

func ep(ip, proto string, port uint16) Entry {
	return Entry{IP: netip.MustParseAddr(ip), Protocol: proto, Port: port}
}

func epi(ip, proto string, port uint16, ip2 string) Entry {
	e := ep(ip, proto, port)
	e.IP2 = netip.MustParseAddr(ip2)
	return e
}

var (
	v4Port   = Set{Name: "T-V4-PORT", Type: HashIPPort, Family: FamilyInet}
	v6Port   = Set{Name: "T-V6-PORT", Type: HashIPPort, Family: FamilyInet6}
	v4PortIP = Set{Name: "T-V4-PORT-IP", Type: HashIPPortIP, Family: FamilyInet}
	v6PortIP = Set{Name: "T-V6-PORT-IP", Type: HashIPPortIP, Family: FamilyInet6}
)

// rule is one conformance case: steps run in order on a fresh Interface.
type rule struct {
	name  string
	steps []step
}

// step calls one method; wantErr is nil for success, errAny for some error,
// or a sentinel the error must wrap. wantList is checked after a List step.
type step struct {
	op       Op
	set      Set // Ensure: the set; other ops: its Name
	other    Set // Swap: the second set
	entry    Entry
	entries  []Entry // AddAll
	wantErr  error
	wantList []Entry
	wantInfo *Info // checked after an Info step (HashSize only if non-zero)
}

var errAny = errors.New("any error")

func ensure(s Set) step              { return step{op: OpEnsure, set: s} }
func add(s Set, e Entry) step        { return step{op: OpAdd, set: s, entry: e} }
func del(s Set, e Entry) step        { return step{op: OpDel, set: s, entry: e} }
func list(s Set, want ...Entry) step { return step{op: OpList, set: s, wantList: want} }
func destroy(s Set) step             { return step{op: OpDestroy, set: s} }
func (st step) fails(err error) step { st.wantErr = err; return st }
func addAll(s Set, es ...Entry) step { return step{op: OpAddAll, set: s, entries: es} }
func swap(a, b Set) step             { return step{op: OpSwap, set: a, other: b} }
func sized(s Set, maxElem, hashSize int) Set {
	s.MaxElem, s.HashSize = maxElem, hashSize
	return s
}
func info(s Set, maxElem, size int) step {
	return step{op: OpInfo, set: s, wantInfo: &Info{Set: Set{Name: s.Name, Type: s.Type, Family: s.Family, MaxElem: maxElem}, Size: size}}
}
func (st step) hashSize(n int) step { st.wantInfo.HashSize = n; return st }

// portEntries are n distinct hash:ip,port members of 10.1.0.1.
func portEntries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = ep("10.1.0.1", "tcp", uint16(i+1))
	}
	return es
}
func named(s Set, name string) Set        { s.Name = name; return s }
func typed(s Set, typ, family string) Set { s.Type, s.Family = typ, family; return s }

var rules = []rule{
	{"ensure creates empty sets of each type and family", []step{
		ensure(v4Port), ensure(v6Port), ensure(v4PortIP), ensure(v6PortIP),
		list(v4Port), list(v6Port), list(v4PortIP), list(v6PortIP),
	}},
	{"ensure keeps an existing set and its members", []step{
		ensure(v4Port), add(v4Port, ep("10.96.0.10", "tcp", 53)),
		ensure(v4Port), list(v4Port, ep("10.96.0.10", "tcp", 53)),
	}},
	{"ensure with another type is a conflict", []step{
		ensure(v4Port), ensure(typed(v4Port, HashIPPortIP, FamilyInet)).fails(ErrConflict),
	}},
	{"ensure with another family is a conflict", []step{
		ensure(v4Port), ensure(typed(v4Port, HashIPPort, FamilyInet6)).fails(ErrConflict),
	}},
	{"a 31-byte name is accepted", []step{
		ensure(named(v4Port, strings.Repeat("N", 31))), list(named(v4Port, strings.Repeat("N", 31))),
	}},
	{"a 32-byte name is refused", []step{
		ensure(named(v4Port, strings.Repeat("N", 32))).fails(errAny),
	}},
	{"list, add and del on a missing set fail with ErrNotFound", []step{
		list(v4Port).fails(ErrNotFound),
		add(v4Port, ep("10.96.0.10", "tcp", 53)).fails(ErrNotFound),
		del(v4Port, ep("10.96.0.10", "tcp", 53)).fails(ErrNotFound),
	}},
	{"destroy of a missing set succeeds", []step{destroy(v4Port)}},
	{"destroy removes the set", []step{
		ensure(v4Port), destroy(v4Port), list(v4Port).fails(ErrNotFound), destroy(v4Port),
	}},
	{"add is idempotent", []step{
		ensure(v4Port),
		add(v4Port, ep("10.96.0.10", "udp", 53)), add(v4Port, ep("10.96.0.10", "udp", 53)),
		list(v4Port, ep("10.96.0.10", "udp", 53)),
	}},
	{"protocol and port are part of the member", []step{
		ensure(v4Port),
		add(v4Port, ep("10.96.0.10", "tcp", 53)), add(v4Port, ep("10.96.0.10", "udp", 53)),
		add(v4Port, ep("10.96.0.10", "sctp", 53)), add(v4Port, ep("10.96.0.10", "tcp", 9153)),
		list(v4Port, ep("10.96.0.10", "tcp", 53), ep("10.96.0.10", "udp", 53),
			ep("10.96.0.10", "sctp", 53), ep("10.96.0.10", "tcp", 9153)),
		del(v4Port, ep("10.96.0.10", "udp", 53)),
		list(v4Port, ep("10.96.0.10", "tcp", 53), ep("10.96.0.10", "sctp", 53), ep("10.96.0.10", "tcp", 9153)),
	}},
	{"del of a missing member succeeds", []step{
		ensure(v4Port), add(v4Port, ep("10.96.0.10", "tcp", 53)),
		del(v4Port, ep("10.96.0.11", "tcp", 53)), del(v4Port, ep("10.96.0.10", "tcp", 53)),
		del(v4Port, ep("10.96.0.10", "tcp", 53)), list(v4Port),
	}},
	{"IPv6 members", []step{
		ensure(v6Port), ensure(v6PortIP),
		add(v6Port, ep("fd00::a", "tcp", 80)), add(v6Port, ep("2001:db8::1", "sctp", 3868)),
		add(v6PortIP, epi("fd00:10::5", "udp", 53, "fd00:10::5")),
		list(v6Port, ep("fd00::a", "tcp", 80), ep("2001:db8::1", "sctp", 3868)),
		list(v6PortIP, epi("fd00:10::5", "udp", 53, "fd00:10::5")),
	}},
	{"hash:ip,port,ip members", []step{
		ensure(v4PortIP),
		add(v4PortIP, epi("10.244.1.5", "tcp", 8080, "10.244.1.5")),
		add(v4PortIP, epi("10.244.1.5", "tcp", 8080, "10.244.1.6")),
		list(v4PortIP, epi("10.244.1.5", "tcp", 8080, "10.244.1.5"), epi("10.244.1.5", "tcp", 8080, "10.244.1.6")),
		del(v4PortIP, epi("10.244.1.5", "tcp", 8080, "10.244.1.6")),
		list(v4PortIP, epi("10.244.1.5", "tcp", 8080, "10.244.1.5")),
	}},
	{"an IPv4 member does not go into an inet6 set", []step{
		ensure(v6Port), add(v6Port, ep("10.96.0.10", "tcp", 53)).fails(errAny), list(v6Port),
	}},
	{"an IPv6 member does not go into an inet set", []step{
		ensure(v4Port), add(v4Port, ep("fd00::a", "tcp", 53)).fails(errAny), list(v4Port),
	}},
	{"hash:ip,port,ip needs the second IP", []step{
		ensure(v4PortIP), add(v4PortIP, ep("10.244.1.5", "tcp", 8080)).fails(errAny), list(v4PortIP),
	}},
	{"hash:ip,port takes no second IP", []step{
		ensure(v4Port), add(v4Port, epi("10.244.1.5", "tcp", 8080, "10.244.1.5")).fails(errAny), list(v4Port),
	}},
	{"an unknown protocol name is refused", []step{
		ensure(v4Port), add(v4Port, ep("10.96.0.10", "quic", 443)).fails(errAny), list(v4Port),
	}},
	{"info of a new set: the default size, no members", []step{
		ensure(v4Port), info(v4Port, MaxElem, 0).hashSize(HashSize),
	}},
	{"info of a missing set fails with ErrNotFound", []step{info(v4Port, 0, 0).fails(ErrNotFound)}},
	{"ensure creates with the given maxelem and hashsize (rounded up to a power of two)", []step{
		ensure(sized(v6PortIP, 300000, 3000)), info(v6PortIP, 300000, 0).hashSize(4096),
	}},
	{"ensure keeps the size of an existing set", []step{
		ensure(sized(v4Port, 100, 1024)), ensure(sized(v4Port, 200000, 65536)), info(v4Port, 100, 0),
	}},
	{"info counts members", []step{
		ensure(v4Port), add(v4Port, ep("10.96.0.10", "tcp", 53)), add(v4Port, ep("10.96.0.10", "udp", 53)),
		info(v4Port, MaxElem, 2),
	}},
	{"a full set refuses a new member with ErrFull and keeps its members", []step{
		ensure(sized(v4Port, 4, 0)), addAll(v4Port, portEntries(4)...),
		add(v4Port, ep("10.1.0.2", "tcp", 1)).fails(ErrFull),
		add(v4Port, ep("10.1.0.1", "tcp", 1)), // already a member: fine
		list(v4Port, portEntries(4)...), info(v4Port, 4, 4),
	}},
	{"add all adds in order and stops at a full set", []step{
		ensure(sized(v4Port, 4, 0)), addAll(v4Port, portEntries(6)...).fails(ErrFull),
		list(v4Port, portEntries(4)...),
	}},
	{"add all: existing members are fine, IPv6 and second IPs", []step{
		ensure(v6PortIP),
		addAll(v6PortIP, epi("fd00::1", "udp", 53, "fd00::2"), epi("fd00::1", "sctp", 9, "fd00::1")),
		addAll(v6PortIP, epi("fd00::1", "udp", 53, "fd00::2")),
		list(v6PortIP, epi("fd00::1", "udp", 53, "fd00::2"), epi("fd00::1", "sctp", 9, "fd00::1")),
	}},
	{"add all of nothing succeeds", []step{ensure(v4Port), addAll(v4Port), list(v4Port)}},
	{"add all to a missing set fails with ErrNotFound", []step{
		addAll(v4Port, ep("10.96.0.10", "tcp", 53)).fails(ErrNotFound),
	}},
	{"add all refuses a member of the wrong family", []step{
		ensure(v4Port), addAll(v4Port, ep("fd00::a", "tcp", 53)).fails(errAny),
	}},
	{"swap exchanges members and sizes under the names", []step{
		ensure(sized(v4Port, 4, 0)), ensure(sized(named(v4Port, "T-V4-PORT-tmp"), 1000, 0)),
		addAll(v4Port, portEntries(4)...), add(named(v4Port, "T-V4-PORT-tmp"), ep("10.2.0.1", "udp", 53)),
		swap(v4Port, named(v4Port, "T-V4-PORT-tmp")),
		list(v4Port, ep("10.2.0.1", "udp", 53)), info(v4Port, 1000, 1),
		list(named(v4Port, "T-V4-PORT-tmp"), portEntries(4)...), info(named(v4Port, "T-V4-PORT-tmp"), 4, 4),
		add(v4Port, ep("10.2.0.2", "udp", 53)),
	}},
	{"swap with a set of another type fails with ErrConflict", []step{
		ensure(v4Port), ensure(v4PortIP), swap(v4Port, v4PortIP).fails(ErrConflict),
	}},
	{"swap with a set of another family fails with ErrConflict", []step{
		ensure(v4Port), ensure(v6Port), swap(v4Port, v6Port).fails(ErrConflict),
	}},
	{"swap with a missing set fails with ErrNotFound", []step{
		ensure(v4Port), swap(v4Port, v6Port).fails(ErrNotFound), swap(v6Port, v4Port).fails(ErrNotFound),
	}},
}

// runRules runs every rule on a fresh Interface from newIface.
func runRules(t *testing.T, newIface func(t *testing.T) Interface) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			ifc := newIface(t)
			for i, st := range r.steps {
				var got []Entry
				var err error
				switch st.op {
				case OpEnsure:
					err = ifc.Ensure(st.set)
				case OpList:
					got, err = ifc.List(st.set.Name)
				case OpAdd:
					err = ifc.Add(st.set.Name, st.entry)
				case OpDel:
					err = ifc.Del(st.set.Name, st.entry)
				case OpDestroy:
					err = ifc.Destroy(st.set.Name)
				case OpAddAll:
					err = ifc.AddAll(st.set.Name, st.entries)
				case OpSwap:
					err = ifc.Swap(st.set.Name, st.other.Name)
				case OpInfo:
					var got Info
					got, err = ifc.Info(st.set.Name)
					if err == nil {
						if st.wantInfo.HashSize == 0 {
							got.HashSize = 0
						}
						if got != *st.wantInfo {
							t.Fatalf("step %d info %s = %+v, want %+v", i, st.set.Name, got, *st.wantInfo)
						}
					}
				}
				switch {
				case st.wantErr == nil && err != nil:
					t.Fatalf("step %d %s %s %s: %v", i, st.op, st.set.Name, st.entry, err)
				case st.wantErr != nil && err == nil:
					t.Fatalf("step %d %s %s %s: no error, want one", i, st.op, st.set.Name, st.entry)
				case st.wantErr != nil && st.wantErr != errAny && !errors.Is(err, st.wantErr):
					t.Fatalf("step %d %s %s %s: %v, want one wrapping %v", i, st.op, st.set.Name, st.entry, err, st.wantErr)
				case err != nil && !strings.Contains(err.Error(), st.set.Name):
					t.Fatalf("step %d %s: error %q does not name the set", i, st.op, err)
				}
				if st.op == OpList && err == nil {
					slices.SortFunc(got, Entry.Compare)
					want := slices.SortedFunc(slices.Values(st.wantList), Entry.Compare)
					if !slices.Equal(got, want) {
						t.Fatalf("step %d list %s = %v, want %v", i, st.set.Name, got, want)
					}
				}
			}
		})
	}
}

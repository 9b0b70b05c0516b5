// Package ipset is the ipset kernel adapter: value types, the narrow Interface
// the reconciler uses, a netlink implementation (github.com/vishvananda/netlink,
// no exec of `ipset`) and an in-memory Fake that refuses what the kernel refuses.
package ipset

import (
	"net/netip"
	"strconv"
)

// The set types ipvs-proxy uses.
const (
	HashIPPort   = "hash:ip,port"    // members "10.96.0.10,tcp:80"
	HashIPPortIP = "hash:ip,port,ip" // members "10.244.1.5,tcp:8080,10.244.1.5"
	// HashIPPortNet holds load-balancer source ranges: "203.0.113.7,tcp:80,198.51.100.0/24".
	HashIPPortNet = "hash:ip,port,net"
	// HashIP holds plain addresses (the addresses on the dummy link): "10.96.0.10".
	HashIP = "hash:ip"
)

// Set describes a set: its name (at most 31 bytes), type and family ("inet" or
// "inet6"), and its size: MaxElem members at most, HashSize buckets to start
// with (the kernel rounds it up to a power of two of at least 64 and doubles
// it as the set fills). A zero size field means the default (MaxElem,
// HashSize: kube-proxy's). The size matters only when a set is created: a set
// is identified by name, type and family (see Same); Grow changes its size.
type Set struct {
	Name     string
	Type     string
	Family   string
	MaxElem  int
	HashSize int
}

// Same tells whether o is the set s describes, sizes aside.
func (s Set) Same(o Set) bool {
	return s.Name == o.Name && s.Type == o.Type && s.Family == o.Family
}

// Sizes returns the set with its zero size fields at the defaults.
func (s Set) Sizes() Set {
	if s.MaxElem == 0 {
		s.MaxElem = MaxElem
	}
	if s.HashSize == 0 {
		s.HashSize = HashSize
	}
	return s
}

// String renders the `ipset save` create line.
func (s Set) String() string {
	return "create " + s.Name + " " + s.Type + " family " + s.Family
}

// Entry is a member of a hash:ip,port (IP2 and Net invalid), hash:ip,port,ip
// (Net invalid), hash:ip,port,net (IP2 invalid) or hash:ip set (only IP).
// Protocol is "tcp", "udp" or "sctp" ("" with port 0 in a hash:ip set).
type Entry struct {
	IP       netip.Addr
	Protocol string
	Port     uint16
	IP2      netip.Addr
	Net      netip.Prefix
}

// String renders the member as `ipset save` does: "10.96.0.10,tcp:80"
// (IPv6 without brackets: "fd00::a,tcp:80").
func (e Entry) String() string {
	if e.Protocol == "" && e.Port == 0 {
		return e.IP.String()
	}
	s := e.IP.String() + "," + e.Protocol + ":" + strconv.Itoa(int(e.Port))
	if e.IP2.IsValid() {
		s += "," + e.IP2.String()
	}
	if e.Net.IsValid() {
		s += "," + e.Net.String()
	}
	return s
}

// Compare orders entries canonically (IP, protocol, port, IP2).
func (e Entry) Compare(o Entry) int {
	if c := e.IP.Compare(o.IP); c != 0 {
		return c
	}
	if e.Protocol != o.Protocol {
		if e.Protocol < o.Protocol {
			return -1
		}
		return 1
	}
	if e.Port != o.Port {
		if e.Port < o.Port {
			return -1
		}
		return 1
	}
	if c := e.IP2.Compare(o.IP2); c != 0 {
		return c
	}
	if c := e.Net.Addr().Compare(o.Net.Addr()); c != 0 {
		return c
	}
	return e.Net.Bits() - o.Net.Bits()
}

// Info is what the kernel says about a set without listing its members.
type Info struct {
	// Set has the kernel's MaxElem and current HashSize (which the kernel
	// grows as the set fills, so it may exceed the one the set was made with).
	Set
	// Size is the number of members.
	Size int
	// References counts the iptables rules and list:sets using the set.
	References int
}

// Interface is everything the reconciler needs from ipset. Each method is one
// netlink request (List is one dump, AddAll sends as many entries per request
// as fit).
type Interface interface {
	// Ensure creates the set if it is missing, with its MaxElem and HashSize;
	// an existing set of the same type and family is left as it is (with its
	// members and its size).
	Ensure(Set) error
	// Info returns the set's header: type, family, size, member count; a
	// missing set is an ErrNotFound.
	Info(name string) (Info, error)
	// List returns the members of the named set; a missing set is an error
	// that errors.Is(err, ErrNotFound).
	List(name string) ([]Entry, error)
	// Add adds a member; adding an existing member is not an error, adding
	// a new member to a full set (MaxElem members: the kernel may take a few
	// more when its hash is large, never fewer) is an ErrFull.
	Add(name string, e Entry) error
	// Del removes a member; removing a missing member is not an error.
	Del(name string, e Entry) error
	// AddAll adds the members in order, as Add does each, and stops at the
	// first that fails (the ones before it stay added). A set that is full
	// (MaxElem members) refuses a new member with an ErrFull.
	AddAll(name string, entries []Entry) error
	// Destroy removes an unreferenced set; a missing set is not an error.
	Destroy(name string) error
	// Swap exchanges the contents and sizes of two sets of the same type and
	// family, atomically: whatever matches set a by name (an iptables rule)
	// matches b's former members from then on. A missing set is an
	// ErrNotFound, sets of another type or family an ErrConflict.
	Swap(a, b string) error
}

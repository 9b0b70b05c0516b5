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

// Set describes a set: its name (at most 31 bytes), type and family ("inet" or "inet6").
type Set struct {
	Name   string
	Type   string
	Family string
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

// Interface is everything the reconciler needs from ipset. Each method is one
// netlink request (List is one dump).
type Interface interface {
	// Ensure creates the set if it is missing; an existing set of the same
	// type and family is left as it is (with its members).
	Ensure(Set) error
	// List returns the members of the named set; a missing set is an error
	// that errors.Is(err, ErrNotFound).
	List(name string) ([]Entry, error)
	// Add adds a member; adding an existing member is not an error.
	Add(name string, e Entry) error
	// Del removes a member; removing a missing member is not an error.
	Del(name string, e Entry) error
	// Destroy removes an unreferenced set; a missing set is not an error.
	Destroy(name string) error
}

package ipset

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// MaxNameLen is the longest set name the kernel accepts, in bytes
// (IPSET_MAXNAMELEN 32 including the terminating NUL).
const MaxNameLen = 31

// Families of sets, as `ipset save` spells them.
const (
	FamilyInet  = "inet"
	FamilyInet6 = "inet6"
)

// Protocol numbers of the protocols an entry may name.
var protocolNumbers = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}

// protocolNumber maps an Entry.Protocol to its IP protocol number. Besides the
// names it accepts a decimal number, the form protocolName gives protocols it
// has no name for, so that whatever List returns can be passed to Del.
func protocolNumber(name string) (uint8, error) {
	if n, ok := protocolNumbers[name]; ok {
		return n, nil
	}
	if n, err := strconv.ParseUint(name, 10, 8); err == nil && n != 0 {
		return uint8(n), nil
	}
	return 0, fmt.Errorf("unsupported protocol %q (want tcp, udp or sctp)", name)
}

// protocolName is the inverse of protocolNumber.
func protocolName(n uint8) string {
	for name, m := range protocolNumbers {
		if m == n {
			return name
		}
	}
	return strconv.Itoa(int(n))
}

// validateSet checks what the kernel checks on create: the name's length,
// a known type and family.
func validateSet(s Set) error {
	if err := validateName(s.Name); err != nil {
		return err
	}
	switch s.Type {
	case HashIPPort, HashIPPortIP, HashIPPortNet, HashIP:
	default:
		return fmt.Errorf("set %s: unsupported type %q (want %s, %s, %s or %s)", s.Name, s.Type, HashIPPort, HashIPPortIP, HashIPPortNet, HashIP)
	}
	switch s.Family {
	case FamilyInet, FamilyInet6:
	default:
		return fmt.Errorf("set %s: unsupported family %q (want %s or %s)", s.Name, s.Family, FamilyInet, FamilyInet6)
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty set name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("set name %q is %d bytes long, the limit is %d", name, len(name), MaxNameLen)
	}
	return nil
}

// validateEntry checks what can be checked without knowing the set: valid,
// unzoned addresses of one family (IPv4-mapped IPv6 is refused: netlink would
// send it as IPv4) and a known protocol.
func checkEntry(e Entry) error {
	if !e.IP.IsValid() {
		return fmt.Errorf("entry %s: no IP", e)
	}
	if err := checkAddr(e, "IP", e.IP); err != nil {
		return err
	}
	if err := checkAddr(e, "IP2", e.IP2); err != nil {
		return err
	}
	if e.IP2.IsValid() && e.IP2.Is4() != e.IP.Is4() {
		return fmt.Errorf("entry %s: IP and IP2 of different families", e)
	}
	if err := validateNet(e); err != nil {
		return err
	}
	if e.Protocol == "" && e.Port == 0 && !e.IP2.IsValid() && !e.Net.IsValid() {
		return nil // a hash:ip member
	}
	if _, err := protocolNumber(e.Protocol); err != nil {
		return fmt.Errorf("entry %s: %w", e, err)
	}
	return nil
}

func checkAddr(e Entry, what string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return nil
	case a.Zone() != "":
		return fmt.Errorf("entry %s: %s has a zone", e, what)
	case a.Is4In6():
		return fmt.Errorf("entry %s: %s is an IPv4-mapped IPv6 address", e, what)
	}
	return nil
}

// validateEntryFor adds the checks that need the set: the entry's shape must
// match the type and its addresses the family.
func checkEntryFor(s Set, e Entry) error {
	if err := validateEntry(e); err != nil {
		return err
	}
	if err := entryShape(s, e); err != nil {
		return err
	}
	if (s.Family == FamilyInet) != e.IP.Is4() {
		return fmt.Errorf("entry %s: wrong address family for a set of family %s", e, s.Family)
	}
	return nil
}

// validateName, validateEntry and validateEntryFor mark their refusals as
// the adapter's verdict on a request it does not send (see verdict).
func validateName(name string) error        { return invalid(checkName(name)) }
func validateEntry(e Entry) error           { return invalid(checkEntry(e)) }
func validateEntryFor(s Set, e Entry) error { return invalid(checkEntryFor(s, e)) }

// invalidError is a request refused before it is sent; it reads as the
// error it wraps.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// invalid marks err as an invalid request. The nil check comes first, in
// a function of its own, so that the common case allocates nothing (the
// errors.As target escapes).
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return markInvalid(err)
}

func markInvalid(err error) error {
	var ie *invalidError
	if errors.As(err, &ie) {
		return err
	}
	return &invalidError{err}
}

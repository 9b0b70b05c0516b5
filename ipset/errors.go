package ipset

import (
	"errors"
	"fmt"
)

// Errors the Kernel and the Fake wrap, so callers can tell the cases apart
// with errors.Is whichever implementation they hold.
var (
	// ErrNotFound: the named set does not exist (List, Add, Del).
	ErrNotFound = errors.New("set does not exist")
	// ErrBusy: the set is referenced (by an iptables/nftables rule or a
	// list:set) and cannot be destroyed.
	ErrBusy = errors.New("set is in use")
	// ErrConflict: a set of that name exists with another type or family.
	ErrConflict = errors.New("set exists with another type or family")
	// ErrFull: the set holds its maxelem members and refuses another (the
	// kernel's IPSET_ERR_HASH_FULL, "hash is full"): grow it (Grow).
	ErrFull = errors.New("set is full")
)

// The ipset protocol's own error numbers (linux/netfilter/ipset/ip_set.h);
// the netlink library prints most of them as "errno N".
const (
	errPrivate         = 4096 + iota // IPSET_ERR_PRIVATE
	errProtocol                      // IPSET_ERR_PROTOCOL
	errFindType                      // IPSET_ERR_FIND_TYPE
	errMaxSets                       // IPSET_ERR_MAX_SETS
	errBusy                          // IPSET_ERR_BUSY
	errExistSetname2                 // IPSET_ERR_EXIST_SETNAME2
	errTypeMismatch                  // IPSET_ERR_TYPE_MISMATCH
	errExist                         // IPSET_ERR_EXIST
	errInvalidCIDR                   // IPSET_ERR_INVALID_CIDR
	errInvalidNetmask                // IPSET_ERR_INVALID_NETMASK
	errInvalidFamily                 // IPSET_ERR_INVALID_FAMILY
	errTimeout                       // IPSET_ERR_TIMEOUT
	errReferenced                    // IPSET_ERR_REFERENCED
	errIPAddrIPv4                    // IPSET_ERR_IPADDR_IPV4
	errIPAddrIPv6                    // IPSET_ERR_IPADDR_IPV6
	errCounter                       // IPSET_ERR_COUNTER
	errComment                       // IPSET_ERR_COMMENT
	errInvalidMarkmask               // IPSET_ERR_INVALID_MARKMASK
	errSkbinfo                       // IPSET_ERR_SKBINFO
	errBitmaskNetmask                // IPSET_ERR_BITMASK_NETMASK_EXCL
)

// Type-specific numbers start at IPSET_ERR_TYPE_SPECIFIC (4352); these are
// the hash types' (ip_set_hash.h), the only types ipvs-proxy creates.
const (
	errHashFull             = 4352 + iota // IPSET_ERR_HASH_FULL
	errHashElem                           // IPSET_ERR_HASH_ELEM
	errInvalidProto                       // IPSET_ERR_INVALID_PROTO
	errMissingProto                       // IPSET_ERR_MISSING_PROTO
	errHashRangeUnsupported               // IPSET_ERR_HASH_RANGE_UNSUPPORTED
	errHashRange                          // IPSET_ERR_HASH_RANGE
)

// errnoNames names the numbers above: the C constant and what ipset(8) says.
var errnoNames = map[int]struct{ name, msg string }{
	errPrivate:              {"IPSET_ERR_PRIVATE", "private kernel error"},
	errProtocol:             {"IPSET_ERR_PROTOCOL", "ipset protocol error"},
	errFindType:             {"IPSET_ERR_FIND_TYPE", "set type not supported by the kernel"},
	errMaxSets:              {"IPSET_ERR_MAX_SETS", "maximal number of sets reached"},
	errBusy:                 {"IPSET_ERR_BUSY", "set is in use by a kernel component"},
	errExistSetname2:        {"IPSET_ERR_EXIST_SETNAME2", "a set with the new name already exists"},
	errTypeMismatch:         {"IPSET_ERR_TYPE_MISMATCH", "set types do not match"},
	errExist:                {"IPSET_ERR_EXIST", "element or set exists (or, on delete, is missing)"},
	errInvalidCIDR:          {"IPSET_ERR_INVALID_CIDR", "invalid CIDR value"},
	errInvalidNetmask:       {"IPSET_ERR_INVALID_NETMASK", "invalid netmask value"},
	errInvalidFamily:        {"IPSET_ERR_INVALID_FAMILY", "protocol family not supported by the set type"},
	errTimeout:              {"IPSET_ERR_TIMEOUT", "set was created without timeout support"},
	errReferenced:           {"IPSET_ERR_REFERENCED", "set is referenced by another system"},
	errIPAddrIPv4:           {"IPSET_ERR_IPADDR_IPV4", "an IPv4 address was expected"},
	errIPAddrIPv6:           {"IPSET_ERR_IPADDR_IPV6", "an IPv6 address was expected"},
	errCounter:              {"IPSET_ERR_COUNTER", "set was created without counter support"},
	errComment:              {"IPSET_ERR_COMMENT", "set was created without comment support"},
	errInvalidMarkmask:      {"IPSET_ERR_INVALID_MARKMASK", "invalid markmask value"},
	errSkbinfo:              {"IPSET_ERR_SKBINFO", "set was created without skbinfo support"},
	errBitmaskNetmask:       {"IPSET_ERR_BITMASK_NETMASK_EXCL", "bitmask and netmask are mutually exclusive"},
	errHashFull:             {"IPSET_ERR_HASH_FULL", "hash is full, cannot add more elements"},
	errHashElem:             {"IPSET_ERR_HASH_ELEM", "null-valued element cannot be stored in a hash set"},
	errInvalidProto:         {"IPSET_ERR_INVALID_PROTO", "invalid protocol"},
	errMissingProto:         {"IPSET_ERR_MISSING_PROTO", "protocol missing"},
	errHashRangeUnsupported: {"IPSET_ERR_HASH_RANGE_UNSUPPORTED", "range not supported in the net component"},
	errHashRange:            {"IPSET_ERR_HASH_RANGE", "invalid range, covers the whole address space"},
}

// Errno is an ipset protocol error from the kernel, named: "hash is full,
// cannot add more elements (IPSET_ERR_HASH_FULL, errno 4352)" rather than the
// netlink library's "errno 4352". It unwraps to the library's error, so
// errors.Is against the library's values keeps working, and to ErrFull,
// ErrBusy, ErrNotFound or ErrConflict where one applies.
type Errno struct {
	Code int
	// Err is the library's error for the same number.
	Err error
}

func (e *Errno) Error() string {
	if n, ok := errnoNames[e.Code]; ok {
		return fmt.Sprintf("%s (%s, errno %d)", n.msg, n.name, e.Code)
	}
	return fmt.Sprintf("unknown ipset error (errno %d)", e.Code)
}

func (e *Errno) Unwrap() []error {
	out := []error{e.Err}
	switch e.Code {
	case errHashFull:
		out = append(out, ErrFull)
	case errBusy:
		out = append(out, ErrBusy)
	case errExistSetname2: // swap: the second set is missing
		out = append(out, ErrNotFound)
	case errTypeMismatch:
		out = append(out, ErrConflict)
	}
	return out
}

// ErrnoName returns the C name of an ipset error number ("IPSET_ERR_HASH_FULL"), or "".
func ErrnoName(code int) string { return errnoNames[code].name }

package ipset

import "errors"

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
)

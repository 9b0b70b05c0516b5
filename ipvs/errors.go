package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
)

// The error shapes shared by Kernel and Fake, so that a test against one
// reads like a log from the other. Each wraps the cause (a syscall.Errno
// from the kernel, or an injected error) for errors.Is.

var errUnknownBatchCmd = errors.New("ipvs: unknown batch command")

// errUnknown marks a batched request whose outcome was never read. It is
// no errno, so callers treat it as a node-level failure.
var errUnknown = errors.New("outcome unknown")

func vsError(verb string, k Key, err error) error {
	return fmt.Errorf("%s virtual server %s: %w", verb, k, err)
}

func rsError(verb string, k Key, r RealServerKey, err error) error {
	return fmt.Errorf("%s real server %s of %s: %w", verb, netip.AddrPortFrom(r.Address, r.Port), k, err)
}

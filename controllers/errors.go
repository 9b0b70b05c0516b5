package controllers

import (
	"errors"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// perObject tells whether a kernel error is about the one object an
// operation named (the kernel refused this virtual server, real server,
// member or address) rather than about the node. A per-object failure is a
// problem of the Services that want the object: it is reported and retried
// for them, and never fails the sync. Everything else is node-level (netlink
// unavailable, EPERM, EOPNOTSUPP, a missing ipset or link, an error without
// an errno, ...): it stops the apply and fails the sync, which the Runner
// retries as a full one.
func perObject(err error) bool {
	if errors.Is(err, ipset.ErrNotFound) || errors.Is(err, ipset.ErrConflict) {
		return false // our set is gone or not ours: a full sync recreates and re-reads it
	}
	if errors.Is(err, ipset.ErrFull) {
		return false // the set is too small for the node's state: a full sync grows it (fitSets)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EINVAL, syscall.ERANGE, syscall.EEXIST, syscall.ENOENT, syscall.ESRCH,
		syscall.E2BIG, syscall.EMSGSIZE, syscall.EOVERFLOW, syscall.EADDRNOTAVAIL, syscall.EADDRINUSE:
		return true
	}
	// ipset's protocol errors (IPSET_ERR_*, 4096 and up: hash full, element
	// out of range, ...) are about the element.
	return errno >= 4096
}

// missing reports the kernel's "no such object" answers, which a delete treats as done.
func missing(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH)
}

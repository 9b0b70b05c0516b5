//go:build linux

package netif

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Batch sending: the netlink library sends one request and waits for its
// acknowledgement, so Kernel keeps a second NETLINK_ROUTE socket (opened
// with the library's, in the same network namespace) on which it writes
// many address requests at once, each encoded as the library encodes
// AddrReplace and AddrDel of a /32 or /128 (ifaddrmsg, IFA_LOCAL and
// IFA_ADDRESS, IFA_F_NODAD for IPv6; no broadcast for a host prefix). A
// batch of up to nlbatch.Max requests goes out in one sendmsg; only its
// last request asks for an acknowledgement, and the kernel, which runs the
// requests in order and answers every failed one anyway, replies with one
// error message per failure and the final acknowledgement, each carrying
// its request's sequence number (internal/nlbatch). This is ipvs.Kernel's
// Batch (ipvs/netlink_batch.go) for addresses.

var errClosed = fmt.Errorf("netif batch socket: %w", net.ErrClosed)

// batchSocket is the rtnetlink socket Batch writes to.
type batchSocket = nlbatch.Socket

// openBatchSocket opens a NETLINK_ROUTE socket in the calling thread's
// network namespace.
func openBatchSocket() (*batchSocket, error) {
	return nlbatch.Open(unix.NETLINK_ROUTE, "netif")
}

var _ Batcher = (*Kernel)(nil)

// Batch runs ops in order, nlbatch.Max requests per sendmsg; errs[i] is
// what op i's single call (AddAddress, DelAddress) would have returned.
func (k *Kernel) Batch(ctx context.Context, ops []BatchOp) []error {
	k.bmu.Lock()
	defer k.bmu.Unlock()
	links := map[string]linkLookup{}
	return nlbatch.Run(ctx, ops, func(ops []BatchOp, errs []error) int {
		return k.batchLocked(ops, errs, links)
	})
}

// linkLookup is a link looked up by name once per Batch.
type linkLookup struct {
	l   netlink.Link
	err error
}

// batchLocked sends one batch and returns how many of its results are
// known: all, or up to and including the first op whose fate is unknown
// (which gets the transport error). k.bmu must be held.
func (k *Kernel) batchLocked(ops []BatchOp, errs []error, links map[string]linkLookup) int {
	if k.bs == nil {
		errs[0] = ops[0].wrap(errClosed)
		return 1
	}
	// Requests that the single call refuses before it sends fail here with
	// the same words; the others are sent.
	b := k.bs.Start()
	for i, op := range ops {
		if op.Cmd != BatchAddAddress && op.Cmd != BatchDelAddress {
			errs[i] = invalid(errUnknownBatchCmd)
			continue
		}
		if err := validateAddr(op.Addr); err != nil {
			errs[i] = fmt.Errorf("netif: %s address %s %s: %w", op.verb(), op.to(), op.Link, err)
			continue
		}
		ll, ok := links[op.Link]
		if !ok {
			ll.l, ll.err = k.link(op.Link)
			links[op.Link] = ll
		}
		if ll.err != nil {
			errs[i] = fmt.Errorf("netif: %s address %s: %w", op.verb(), op.Addr, ll.err)
			continue
		}
		typ, flags := uint16(unix.RTM_NEWADDR), uint16(unix.NLM_F_REQUEST|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
		if op.Cmd == BatchDelAddress {
			typ, flags = unix.RTM_DELADDR, unix.NLM_F_REQUEST
		}
		b.End(appendRequest(b.Begin(typ, flags), op, ll.l.Attrs().Index), i)
	}
	err := k.bs.Exchange(func(i int, errno syscall.Errno) {
		errs[i] = k.result(ops[i], links[ops[i].Link].l, errno)
	})
	var ue *nlbatch.UnknownError
	if errors.As(err, &ue) {
		errs[ue.Op] = ops[ue.Op].wrap(fmt.Errorf("%w: %v", errUnknown, err))
		return ue.Op + 1
	}
	return len(ops)
}

// result is what the single call returns when the kernel answers errno: a
// delete the kernel finds no /32 or /128 for goes on as DelAddress does.
func (k *Kernel) result(op BatchOp, l netlink.Link, errno syscall.Errno) error {
	if op.Cmd == BatchDelAddress && errno == unix.EADDRNOTAVAIL {
		return k.delOtherPrefixes(l, op.Link, op.Addr)
	}
	return op.wrap(errno)
}

// wrap words err as the single call does once the request was made.
func (op BatchOp) wrap(err error) error {
	return fmt.Errorf("netif: %s address %s %s %s: %w", op.verb(), op.Addr, op.to(), op.Link, err)
}

func (op BatchOp) verb() string {
	if op.Cmd == BatchDelAddress {
		return "delete"
	}
	return "add"
}

func (op BatchOp) to() string {
	if op.Cmd == BatchDelAddress {
		return "from"
	}
	return "to"
}

// appendRequest appends the body of op's request for the link of index to
// b (a request header just begun: RTM_NEWADDR with
// NLM_F_CREATE|NLM_F_REPLACE, or RTM_DELADDR), encoded as the netlink
// library encodes AddrReplace and AddrDel of toNetlink's host prefix.
func appendRequest(b []byte, op BatchOp, index int) []byte {
	family, ifaFlags := uint8(unix.AF_INET), uint8(0)
	if op.Addr.Is6() {
		family, ifaFlags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	// struct ifaddrmsg: family, prefix length, flags, scope, index.
	b = append(b, family, uint8(op.Addr.BitLen()), ifaFlags, 0)
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	ip := op.Addr.AsSlice()
	b = nlbatch.Attr(b, unix.IFA_LOCAL, ip)
	return nlbatch.Attr(b, unix.IFA_ADDRESS, ip)
}

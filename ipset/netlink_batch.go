//go:build linux

package ipset

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Batch sending: the netlink library sends one request and waits for its
// acknowledgement, so Kernel keeps a third NETLINK_NETFILTER socket (opened
// with the others, in the same network namespace) on which it writes many
// add and delete requests at once, each encoded exactly as the library
// encodes the single call (same attributes, same flags but the ack). One
// entry per message: the kernel's multi-entry request (IPSET_ATTR_ADT, see
// AddAll) stops at its first failure and so cannot say which entry failed
// and what became of the others. A batch of up to nlbatch.Max requests
// goes out in one sendmsg; only its last request asks for an
// acknowledgement, and the kernel, which runs the requests in order and
// answers every failed one anyway, replies with one error message per
// failure and the final acknowledgement, each carrying its request's
// sequence number (internal/nlbatch). This is ipvs.Kernel's Batch
// (ipvs/netlink_batch.go) for sets.

var errClosed = fmt.Errorf("ipset batch socket: %w", net.ErrClosed)

// batchSocket is the netfilter netlink socket Batch writes to.
type batchSocket = nlbatch.Socket

// openBatchSocket opens a NETLINK_NETFILTER socket in the calling thread's
// network namespace.
func openBatchSocket() (*batchSocket, error) {
	return nlbatch.Open(unix.NETLINK_NETFILTER, "ipset")
}

var _ Batcher = (*Kernel)(nil)

// Batch runs ops in order, nlbatch.Max requests per sendmsg; errs[i] is
// what op i's single call (Add, Del) would have returned.
func (k *Kernel) Batch(ctx context.Context, ops []BatchOp) []error {
	k.bmu.Lock()
	defer k.bmu.Unlock()
	return nlbatch.Run(ctx, ops, k.batchLocked)
}

// batchLocked sends one batch and returns how many of its results are
// known: all, or up to and including the first op whose fate is unknown
// (which gets the transport error). k.bmu must be held.
func (k *Kernel) batchLocked(ops []BatchOp, errs []error) int {
	if k.bs == nil {
		errs[0] = ops[0].wrap(errClosed)
		return 1
	}
	// Requests that the single call refuses before it sends fail here with
	// the same words; the others are sent.
	b := k.bs.Start()
	for i, op := range ops {
		ne, err := toNetlink(op.Set, op.Entry)
		if err != nil {
			errs[i] = op.invalid(err)
			continue
		}
		cmd := nl.IPSET_CMD_ADD
		if op.Cmd == BatchDel {
			cmd = nl.IPSET_CMD_DEL
		} else if op.Cmd != BatchAdd {
			errs[i] = invalid(errUnknownBatchCmd)
			continue
		}
		b.End(appendRequest(b.Begin(uint16(cmd|unix.NFNL_SUBSYS_IPSET<<8), unix.NLM_F_REQUEST), op.Set, ne), i)
	}
	err := k.bs.Exchange(func(i int, errno syscall.Errno) {
		errs[i] = ops[i].result(kernelErrno(errno))
	})
	var ue *nlbatch.UnknownError
	if errors.As(err, &ue) {
		errs[ue.Op] = ops[ue.Op].wrap(fmt.Errorf("%w: %v", errUnknown, err))
		return ue.Op + 1
	}
	return len(ops)
}

// kernelErrno is the error the netlink library returns for the kernel's
// errno: ipset's own numbers as nl.IPSetError (see execute).
func kernelErrno(errno syscall.Errno) error {
	if errno >= nl.IPSET_ERR_PRIVATE {
		return nl.IPSetError(errno)
	}
	return errno
}

// result is what the single call returns when the kernel answers err.
func (op BatchOp) result(err error) error {
	if op.Cmd == BatchDel && errors.Is(err, nl.IPSetError(nl.IPSET_ERR_EXIST)) {
		return nil // as Del: a missing entry is no error
	}
	return op.wrap(kernelErr(err))
}

// wrap words err as the single call does once the request was made.
func (op BatchOp) wrap(err error) error {
	return fmt.Errorf("ipset %s %s %s: %w", op.verb(), op.Set, op.Entry, err)
}

// invalid words err as the single call does when it refuses the request
// before sending it.
func (op BatchOp) invalid(err error) error {
	return fmt.Errorf("ipset %s: %w", op.verb(), err)
}

func (op BatchOp) verb() string {
	if op.Cmd == BatchDel {
		return "del"
	}
	return "add"
}

// appendRequest appends the body of the add or delete request of ne to set
// to b (a request header just begun), encoded as the netlink library
// encodes Handle.IpsetAdd and IpsetDel: the exist flag (no NLM_F_EXCL; the
// header's flags), the entry's attributes in the library's order and a
// zero LINENO inside the data (so the kernel replies as to a single
// request).
func appendRequest(b []byte, set string, ne *netlink.IPSetEntry) []byte {
	b = append(b, unix.AF_NETLINK, nl.NFNETLINK_V0, 0, 0)

	a := attrs(b).put(nl.IPSET_ATTR_PROTOCOL, nl.IPSET_PROTOCOL).putString(nl.IPSET_ATTR_SETNAME, set)
	a, at := a.nest(nl.IPSET_ATTR_DATA)
	a = a.putIP(nl.IPSET_ATTR_IP, ne.IP)
	if ne.IP2 != nil {
		a = a.putIP(nl.IPSET_ATTR_IP2, ne.IP2)
	}
	if ne.CIDR2 != 0 {
		a = a.put(nl.IPSET_ATTR_CIDR2, ne.CIDR2)
	}
	if ne.Port != nil {
		a = a.put(nl.IPSET_ATTR_PROTO, *ne.Protocol)
		a = a.put(nl.IPSET_ATTR_PORT|nl.NLA_F_NET_BYTEORDER, byte(*ne.Port>>8), byte(*ne.Port))
	}
	a = a.putU32BE(nl.IPSET_ATTR_LINENO, 0)
	return a.end(at)
}

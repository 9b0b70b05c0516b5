//go:build linux

package ipset

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

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
// and what became of the others. A batch of up to batchMessages requests
// goes out in one sendmsg; only its last request asks for an
// acknowledgement, and the kernel, which runs the requests in order and
// answers every failed one anyway, replies with one error message per
// failure and the final acknowledgement, each carrying its request's
// sequence number: a batch without failures costs two syscalls whatever
// its size. This is ipvs.Kernel's Batch (ipvs/netlink_batch.go) for sets.

const (
	// batchMessages bounds one sendmsg: its error replies (at most one per
	// request, small with NETLINK_CAP_ACK) must fit the receive buffer.
	batchMessages = 128
	batchTimeout  = 30 * time.Second
)

var errClosed = fmt.Errorf("ipset batch socket: %w", net.ErrClosed)

// batchSocket is the netfilter netlink socket Batch writes to.
type batchSocket struct {
	fd   int
	seq  uint32
	buf  []byte // request scratch
	rbuf []byte // reply scratch
	// lastOffset is where the last request appended to buf starts.
	lastOffset int
}

// openBatchSocket opens a NETLINK_NETFILTER socket in the calling thread's
// network namespace.
func openBatchSocket() (*batchSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("open ipset batch socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind ipset batch socket: %w", err)
	}
	// Error replies without the request echoed; a larger receive buffer
	// where allowed (CAP_NET_ADMIN). Both best effort.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	tv := unix.NsecToTimeval(batchTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ipset batch socket timeout: %w", err)
	}
	return &batchSocket{fd: fd, rbuf: make([]byte, 64<<10)}, nil
}

func (s *batchSocket) close() {
	if s != nil {
		unix.Close(s.fd)
	}
}

var _ Batcher = (*Kernel)(nil)

// Batch runs ops in order, batchMessages requests per sendmsg; errs[i] is
// what op i's single call (Add, Del) would have returned.
func (k *Kernel) Batch(ctx context.Context, ops []BatchOp) []error {
	errs := make([]error, len(ops))
	k.bmu.Lock()
	defer k.bmu.Unlock()
	for start := 0; start < len(ops); start += batchMessages {
		if ctx.Err() != nil {
			return errs[:start]
		}
		end := min(start+batchMessages, len(ops))
		if n := k.batchLocked(ops[start:end], errs[start:end]); n < end-start {
			return errs[:start+n]
		}
	}
	return errs
}

// batchLocked sends one batch and returns how many of its results are
// known: all, or up to and including the first op whose fate is unknown
// (which gets the transport error). k.bmu must be held.
func (k *Kernel) batchLocked(ops []BatchOp, errs []error) int {
	if k.bs == nil {
		errs[0] = ops[0].wrap(errClosed)
		return 1
	}
	s := k.bs
	// Requests that the single call refuses before it sends fail here with
	// the same words; the others are sent.
	sent := make([]int, 0, len(ops)) // seq offset -> op index
	s.buf = s.buf[:0]
	base := s.seq + 1
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
		s.seq++
		sent = append(sent, i)
		s.buf = s.appendRequest(s.buf, cmd, op.Set, ne, s.seq)
	}
	if len(sent) == 0 {
		return len(ops)
	}
	// Only the last request asks for an acknowledgement: it comes after
	// every error reply of the batch.
	last := s.seq
	flags := binary.NativeEndian.Uint16(s.buf[s.lastOffset+6:]) | unix.NLM_F_ACK
	binary.NativeEndian.PutUint16(s.buf[s.lastOffset+6:], flags)
	// Replies come in request order and a success sends none: the ops up
	// to the last one replied to are done, unless they failed.
	replied := -1
	unknown := func(err error) int {
		i := sent[replied+1]
		errs[i] = ops[i].wrap(fmt.Errorf("%w: %v", errUnknown, err))
		return i + 1
	}
	if err := unix.Sendto(s.fd, s.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return unknown(fmt.Errorf("send batch: %w", err))
	}
	for {
		n, _, err := unix.Recvfrom(s.fd, s.rbuf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// The fate of the ops with no reply yet is unknown.
			return unknown(fmt.Errorf("read batch replies: %w", err))
		}
		msgs, err := syscall.ParseNetlinkMessage(s.rbuf[:n])
		if err != nil {
			return unknown(fmt.Errorf("read batch replies: %w", err))
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq < base || m.Header.Seq > last || len(m.Data) < 4 {
				continue // not a reply to this batch
			}
			j := int(m.Header.Seq - base)
			replied = max(replied, j)
			i := sent[j]
			if errno := -int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
				errs[i] = ops[i].result(kernelErrno(syscall.Errno(errno)))
			}
			if m.Header.Seq == last {
				return len(ops)
			}
		}
	}
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

// appendRequest appends the add or delete request of ne to set (sequence
// number seq, no acknowledgement asked) to b, encoded as the netlink
// library encodes Handle.IpsetAdd and IpsetDel: the exist flag (no
// NLM_F_EXCL), the entry's attributes in the library's order and a zero
// LINENO inside the data (so the kernel replies as to a single request).
func (s *batchSocket) appendRequest(b []byte, cmd int, set string, ne *netlink.IPSetEntry, seq uint32) []byte {
	s.lastOffset = len(b)
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, uint16(cmd|unix.NFNL_SUBSYS_IPSET<<8))
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel's
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
	b = a.end(at)
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

//go:build linux

package netif

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Batch sending: the netlink library sends one request and waits for its
// acknowledgement, so Kernel keeps a second NETLINK_ROUTE socket (opened
// with the library's, in the same network namespace) on which it writes
// many address requests at once, each encoded as the library encodes
// AddrReplace and AddrDel of a /32 or /128 (ifaddrmsg, IFA_LOCAL and
// IFA_ADDRESS, IFA_F_NODAD for IPv6; no broadcast for a host prefix). A
// batch of up to batchMessages requests goes out in one sendmsg; only its
// last request asks for an acknowledgement, and the kernel, which runs the
// requests in order and answers every failed one anyway, replies with one
// error message per failure and the final acknowledgement, each carrying
// its request's sequence number. This is ipvs.Kernel's Batch
// (ipvs/netlink_batch.go) for addresses.

const (
	// batchMessages bounds one sendmsg: its error replies (at most one per
	// request, small with NETLINK_CAP_ACK) must fit the receive buffer.
	batchMessages = 128
	batchTimeout  = 30 * time.Second
)

var errClosed = fmt.Errorf("netif batch socket: %w", net.ErrClosed)

// batchSocket is the rtnetlink socket Batch writes to.
type batchSocket struct {
	fd   int
	seq  uint32
	buf  []byte // request scratch
	rbuf []byte // reply scratch
	// lastOffset is where the last request appended to buf starts.
	lastOffset int
}

// openBatchSocket opens a NETLINK_ROUTE socket in the calling thread's
// network namespace.
func openBatchSocket() (*batchSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netif batch socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netif batch socket: %w", err)
	}
	// Error replies without the request echoed; a larger receive buffer
	// where allowed (CAP_NET_ADMIN). Both best effort.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	tv := unix.NsecToTimeval(batchTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netif batch socket timeout: %w", err)
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
// what op i's single call (AddAddress, DelAddress) would have returned.
func (k *Kernel) Batch(ctx context.Context, ops []BatchOp) []error {
	errs := make([]error, len(ops))
	k.bmu.Lock()
	defer k.bmu.Unlock()
	links := map[string]linkLookup{}
	for start := 0; start < len(ops); start += batchMessages {
		if ctx.Err() != nil {
			return errs[:start]
		}
		end := min(start+batchMessages, len(ops))
		if n := k.batchLocked(ops[start:end], errs[start:end], links); n < end-start {
			return errs[:start+n]
		}
	}
	return errs
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
	s := k.bs
	// Requests that the single call refuses before it sends fail here with
	// the same words; the others are sent.
	sent := make([]int, 0, len(ops)) // seq offset -> op index
	s.buf = s.buf[:0]
	base := s.seq + 1
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
		s.seq++
		sent = append(sent, i)
		s.buf = s.appendRequest(s.buf, op, ll.l.Attrs().Index, s.seq)
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
				errs[i] = k.result(ops[i], links[ops[i].Link].l, syscall.Errno(errno))
			}
			if m.Header.Seq == last {
				return len(ops)
			}
		}
	}
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

// appendRequest appends op's request for the link of index (sequence
// number seq, no acknowledgement asked) to b, encoded as the netlink
// library encodes AddrReplace (NLM_F_CREATE|NLM_F_REPLACE) and AddrDel of
// toNetlink's host prefix.
func (s *batchSocket) appendRequest(b []byte, op BatchOp, index int, seq uint32) []byte {
	s.lastOffset = len(b)
	start := len(b)
	typ, flags := uint16(unix.RTM_NEWADDR), uint16(unix.NLM_F_REQUEST|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	if op.Cmd == BatchDelAddress {
		typ, flags = unix.RTM_DELADDR, unix.NLM_F_REQUEST
	}
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel's
	family, ifaFlags := uint8(unix.AF_INET), uint8(0)
	if op.Addr.Is6() {
		family, ifaFlags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	// struct ifaddrmsg: family, prefix length, flags, scope, index.
	b = append(b, family, uint8(op.Addr.BitLen()), ifaFlags, 0)
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	ip := op.Addr.AsSlice()
	b = attr(b, unix.IFA_LOCAL, ip)
	b = attr(b, unix.IFA_ADDRESS, ip)
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// attr appends a netlink attribute: a 4-byte header (length, type), the
// value, padding to 4 bytes.
func attr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

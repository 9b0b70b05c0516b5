//go:build linux

package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Batch sending: moby/ipvs has no batch API and does not export its message
// encoding, so Kernel keeps a second generic netlink socket of its own
// (opened with moby's, in the same network namespace) and encodes the few
// attributes of the batchable commands itself, exactly as moby does for the
// single calls (same attributes, same values). A batch of up to
// batchMessages requests goes out in one sendmsg; only its last request
// asks for an acknowledgement, and the kernel, which runs the requests in
// order and acknowledges every failed one anyway, answers with one error
// message per failure and the final acknowledgement: a batch without
// failures costs two syscalls whatever its size.

const (
	// batchMessages bounds one sendmsg: its error replies (at most one per
	// request, small with NETLINK_CAP_ACK) must fit the receive buffer.
	batchMessages = 128
	batchTimeout  = 30 * time.Second

	ipvsGenlVersion = 1

	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7

	ipvsCmdAttrService = 1
	ipvsCmdAttrDest    = 2

	ipvsSvcAttrAF        = 1
	ipvsSvcAttrProtocol  = 2
	ipvsSvcAttrAddr      = 3
	ipvsSvcAttrPort      = 4
	ipvsSvcAttrSchedName = 6
	ipvsSvcAttrFlags     = 7
	ipvsSvcAttrTimeout   = 8
	ipvsSvcAttrNetmask   = 9

	ipvsDestAttrAddr      = 1
	ipvsDestAttrPort      = 2
	ipvsDestAttrFwdMethod = 3
	ipvsDestAttrWeight    = 4
	ipvsDestAttrUThresh   = 5
	ipvsDestAttrLThresh   = 6

	fwdMask = 0x7
)

// batchSocket is the generic netlink socket Batch writes to.
type batchSocket struct {
	fd     int
	family uint16
	seq    uint32
	buf    []byte // request scratch
	rbuf   []byte // reply scratch
	// lastOffset is where the last request appended to buf starts.
	lastOffset int
}

// openBatchSocket opens a generic netlink socket in the calling thread's
// network namespace for IPVS requests.
func openBatchSocket() (*batchSocket, error) {
	fam, err := netlink.GenlFamilyGet("IPVS")
	if err != nil {
		return nil, fmt.Errorf("ipvs not available in this kernel (modprobe ip_vs): %w", err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("open ipvs batch socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind ipvs batch socket: %w", err)
	}
	// Error replies without the request echoed; a larger receive buffer
	// where allowed (CAP_NET_ADMIN). Both best effort.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	tv := unix.NsecToTimeval(batchTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ipvs batch socket timeout: %w", err)
	}
	return &batchSocket{fd: fd, family: fam.ID, rbuf: make([]byte, 64<<10)}, nil
}

func (s *batchSocket) close() {
	if s != nil {
		unix.Close(s.fd)
	}
}

var _ Batcher = (*Kernel)(nil)

// Batch runs ops in order, batchMessages requests per sendmsg; errs[i] is
// what op i's single call would have returned.
func (k *Kernel) Batch(ctx context.Context, ops []BatchOp) []error {
	errs := make([]error, len(ops))
	k.mu.Lock()
	defer k.mu.Unlock()
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
// (which gets the transport error). k.mu must be held.
func (k *Kernel) batchLocked(ops []BatchOp, errs []error) int {
	if k.h == nil || k.bs == nil {
		errs[0] = ops[0].wrap(errClosed)
		return 1
	}
	s := k.bs
	// Requests that the kernel would refuse (or that moby would misencode)
	// fail here, as in the single calls; the others are sent.
	sent := make([]int, 0, len(ops)) // seq offset -> op index
	s.buf = s.buf[:0]
	base := s.seq + 1
	for i, op := range ops {
		if err := op.check(); err != nil {
			errs[i] = op.wrap(err)
			continue
		}
		s.seq++
		sent = append(sent, i)
		s.buf = s.appendRequest(s.buf, op, s.seq)
	}
	if len(sent) == 0 {
		return len(ops)
	}
	// Only the last request asks for an acknowledgement: it comes after
	// every error reply of the batch.
	last := s.seq
	flags := binary.NativeEndian.Uint16(s.buf[s.lastOffset+6:]) | unix.NLM_F_ACK
	binary.NativeEndian.PutUint16(s.buf[s.lastOffset+6:], flags)
	// Replies come in request order and a success sends none: the ops
	// up to the last one replied to are done, unless they failed.
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
				errs[i] = ops[i].wrap(syscall.Errno(errno))
			}
			if m.Header.Seq == last {
				return len(ops)
			}
		}
	}
}

// check is what the single call checks before it sends.
func (op BatchOp) check() error {
	switch op.Cmd {
	case BatchAddVirtualServer, BatchUpdateVirtualServer:
		return checkVirtualServer(op.VirtualServer)
	case BatchDeleteVirtualServer:
		return nil // as DeleteVirtualServer: the kernel judges the key
	case BatchAddRealServer, BatchUpdateRealServer:
		return checkRealServer(op.VirtualServer.Key, op.RealServer)
	case BatchDeleteRealServer:
		return checkRealServerKey(op.VirtualServer.Key, op.RealServer.RealServerKey)
	}
	return errUnknownBatchCmd
}

// wrap words err as the single call does.
func (op BatchOp) wrap(err error) error {
	k, r := op.VirtualServer.Key, op.RealServer.RealServerKey
	switch op.Cmd {
	case BatchAddVirtualServer:
		return vsError("add", k, err)
	case BatchUpdateVirtualServer:
		return vsError("update", k, err)
	case BatchDeleteVirtualServer:
		return vsError("delete", k, err)
	case BatchAddRealServer:
		return rsError("add", k, r, err)
	case BatchUpdateRealServer:
		return rsError("update", k, r, err)
	case BatchDeleteRealServer:
		return rsError("delete", k, r, err)
	}
	return err
}

// appendRequest appends op's request (sequence number seq, no
// acknowledgement asked) to b, encoded as moby/ipvs encodes the single call.
func (s *batchSocket) appendRequest(b []byte, op BatchOp, seq uint32) []byte {
	s.lastOffset = len(b)
	var cmd uint8
	switch op.Cmd {
	case BatchAddVirtualServer:
		cmd = ipvsCmdNewService
	case BatchAddRealServer:
		cmd = ipvsCmdNewDest
	case BatchUpdateRealServer:
		cmd = ipvsCmdSetDest
	case BatchDeleteRealServer:
		cmd = ipvsCmdDelDest
	case BatchUpdateVirtualServer:
		cmd = ipvsCmdSetService
	case BatchDeleteVirtualServer:
		cmd = ipvsCmdDelService // the key is all the kernel reads
	}
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, s.family)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel's
	b = append(b, cmd, ipvsGenlVersion, 0, 0)

	vs := op.VirtualServer
	svc := len(b)
	b = attrHeader(b, ipvsCmdAttrService)
	af, mask := uint16(unix.AF_INET), uint32(netmaskIPv4)
	if !vs.Address.Is4() {
		af, mask = unix.AF_INET6, netmaskIPv6
	}
	b = attrU16(b, ipvsSvcAttrAF, af)
	b = attrU16(b, ipvsSvcAttrProtocol, uint16(vs.Protocol))
	b = attrAddr(b, ipvsSvcAttrAddr, vs.Address)
	b = attrBE16(b, ipvsSvcAttrPort, vs.Port)
	if op.Cmd == BatchAddVirtualServer || op.Cmd == BatchUpdateVirtualServer {
		b = attr(b, ipvsSvcAttrSchedName, append([]byte(vs.Scheduler), 0))
		flags := uint32(vs.Flags & SchedFlagsMask)
		if vs.Timeout > 0 {
			flags |= svcFlagPersistent
		}
		b = attr(b, ipvsSvcAttrFlags, binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, flags), 0xffffffff))
		b = attrU32(b, ipvsSvcAttrTimeout, vs.Timeout)
		b = attrU32(b, ipvsSvcAttrNetmask, mask)
	}
	b = endNest(b, svc)

	if !op.Cmd.virtualServerCmd() {
		rs := op.RealServer
		dst := len(b)
		b = attrHeader(b, ipvsCmdAttrDest)
		b = attrAddr(b, ipvsDestAttrAddr, rs.Address)
		b = attrBE16(b, ipvsDestAttrPort, rs.Port)
		if op.Cmd != BatchDeleteRealServer {
			b = attrU32(b, ipvsDestAttrFwdMethod, forwardingFlags(rs.Forwarding)&fwdMask)
			b = attrU32(b, ipvsDestAttrWeight, uint32(rs.Weight))
			b = attrU32(b, ipvsDestAttrUThresh, 0)
			b = attrU32(b, ipvsDestAttrLThresh, 0)
		}
		b = endNest(b, dst)
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// virtualServerCmd tells whether the command is about a virtual server
// only (no destination attribute).
func (c BatchCmd) virtualServerCmd() bool {
	return c == BatchAddVirtualServer || c == BatchUpdateVirtualServer || c == BatchDeleteVirtualServer
}

// Netlink attributes: a 4-byte header (length, type), the value, padding
// to 4 bytes.

func attrHeader(b []byte, typ uint16) []byte {
	b = binary.NativeEndian.AppendUint16(b, 0)
	return binary.NativeEndian.AppendUint16(b, typ)
}

// endNest sets the length of the nested attribute that starts at start.
func endNest(b []byte, start int) []byte {
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	return b
}

func attr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func attrU16(b []byte, typ uint16, v uint16) []byte {
	return attr(b, typ, binary.NativeEndian.AppendUint16(nil, v))
}

func attrBE16(b []byte, typ uint16, v uint16) []byte {
	return attr(b, typ, binary.BigEndian.AppendUint16(nil, v))
}

func attrU32(b []byte, typ uint16, v uint32) []byte {
	return attr(b, typ, binary.NativeEndian.AppendUint32(nil, v))
}

// attrAddr is 4 bytes for IPv4, 16 for IPv6 (what moby sends).
func attrAddr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return attr(b, typ, v[:])
	}
	v := a.As16()
	return attr(b, typ, v[:])
}

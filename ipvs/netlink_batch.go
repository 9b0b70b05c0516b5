//go:build linux

package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/internal/nlbatch"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Batch sending: moby/ipvs has no batch API and does not export its message
// encoding, so Kernel keeps a second generic netlink socket of its own
// (opened with moby's, in the same network namespace) and encodes the few
// attributes of the batchable commands itself, exactly as moby does for the
// single calls (same attributes, same values). The batching itself (one
// sendmsg per nlbatch.Max requests, replies matched by sequence number) is
// internal/nlbatch's.

const (
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

// batchSocket is the generic netlink socket Batch writes to, and the
// IPVS family's id its requests are addressed to.
type batchSocket struct {
	*nlbatch.Socket
	family uint16
}

// openBatchSocket opens a generic netlink socket in the calling thread's
// network namespace for IPVS requests.
func openBatchSocket() (*batchSocket, error) {
	fam, err := netlink.GenlFamilyGet("IPVS")
	if err != nil {
		return nil, fmt.Errorf("ipvs not available in this kernel (modprobe ip_vs): %w", err)
	}
	s, err := nlbatch.Open(unix.NETLINK_GENERIC, "ipvs")
	if err != nil {
		return nil, err
	}
	return &batchSocket{Socket: s, family: fam.ID}, nil
}

func (s *batchSocket) close() {
	if s != nil {
		s.Close()
	}
}

var _ Batcher = (*Kernel)(nil)

// Batch runs ops in order, nlbatch.Max requests per sendmsg; errs[i] is
// what op i's single call would have returned.
func (k *Kernel) Batch(ctx context.Context, ops []BatchOp) []error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return nlbatch.Run(ctx, ops, k.batchLocked)
}

// batchLocked sends one batch and returns how many of its results are
// known: all, or up to and including the first op whose fate is unknown
// (which gets the transport error). k.mu must be held.
func (k *Kernel) batchLocked(ops []BatchOp, errs []error) int {
	if k.h == nil || k.bs == nil {
		errs[0] = ops[0].wrap(errClosed)
		return 1
	}
	// Requests that the kernel would refuse (or that moby would misencode)
	// fail here, as in the single calls; the others are sent.
	b := k.bs.Start()
	for i, op := range ops {
		if err := op.check(); err != nil {
			errs[i] = op.wrap(err)
			continue
		}
		b.End(appendRequest(b.Begin(k.bs.family, unix.NLM_F_REQUEST), op), i)
	}
	err := k.bs.Exchange(func(i int, errno syscall.Errno) {
		errs[i] = ops[i].wrap(errno)
	})
	var ue *nlbatch.UnknownError
	if errors.As(err, &ue) {
		errs[ue.Op] = ops[ue.Op].wrap(fmt.Errorf("%w: %v", errUnknown, err))
		return ue.Op + 1
	}
	return len(ops)
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

// appendRequest appends the body of op's request to b (a request header
// just begun), encoded as moby/ipvs encodes the single call.
func appendRequest(b []byte, op BatchOp) []byte {
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
	b = append(b, cmd, ipvsGenlVersion, 0, 0)

	b = appendService(b, op.VirtualServer, op.Cmd == BatchAddVirtualServer || op.Cmd == BatchUpdateVirtualServer)

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
	return b
}

// appendService appends the service attribute of vs: its key, and with
// full its scheduler, flags, persistence and netmask, as moby encodes them.
func appendService(b []byte, vs VirtualServer, full bool) []byte {
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
	if full {
		b = nlbatch.Attr(b, ipvsSvcAttrSchedName, append([]byte(vs.Scheduler), 0))
		flags := uint32(vs.Flags & SchedFlagsMask)
		if vs.Timeout > 0 {
			flags |= svcFlagPersistent
		}
		b = nlbatch.Attr(b, ipvsSvcAttrFlags, binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, flags), 0xffffffff))
		b = attrU32(b, ipvsSvcAttrTimeout, vs.Timeout)
		b = attrU32(b, ipvsSvcAttrNetmask, mask)
	}
	return endNest(b, svc)
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

func attrU16(b []byte, typ uint16, v uint16) []byte {
	return nlbatch.AttrU16(b, typ, v)
}

func attrBE16(b []byte, typ uint16, v uint16) []byte {
	return nlbatch.AttrBE16(b, typ, v)
}

func attrU32(b []byte, typ uint16, v uint32) []byte {
	return nlbatch.AttrU32(b, typ, v)
}

// attrAddr is 4 bytes for IPv4, 16 for IPv6 (what moby sends).
func attrAddr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return nlbatch.Attr(b, typ, v[:])
	}
	v := a.As16()
	return nlbatch.Attr(b, typ, v[:])
}

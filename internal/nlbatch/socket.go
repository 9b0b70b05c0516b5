//go:build linux

package nlbatch

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Timeout bounds each read of a reply: a batch or dump whose replies stop
// coming fails (EAGAIN) instead of hanging.
const Timeout = 30 * time.Second

// Socket is a raw netlink socket of an adapter's own, in the network
// namespace of the thread that opened it. It is not safe for concurrent
// use: its owner serializes Exchange and Dump (a reply is matched to its
// request by sequence number, and one reader must see them all).
type Socket struct {
	fd    int
	seq   uint32 // the last sequence number used
	rbuf  []byte // reply scratch, reused
	batch Batch  // request scratch, reused
}

// Open opens a netlink socket of protocol proto (NETLINK_GENERIC,
// NETLINK_NETFILTER, NETLINK_ROUTE) in the calling thread's network
// namespace; name (the adapter's: "ipvs") words its errors. Error replies
// come without the request echoed (NETLINK_CAP_ACK) and, where allowed
// (CAP_NET_ADMIN), into a 4 MiB receive buffer; both are best effort.
// Reads time out after Timeout.
func Open(proto int, name string) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("open %s batch socket: %w", name, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s batch socket: %w", name, err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	tv := unix.NsecToTimeval(Timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s batch socket timeout: %w", name, err)
	}
	// 64 KiB: more than the kernel puts in one dump datagram (32 KiB at
	// most) and than Max error replies.
	return &Socket{fd: fd, rbuf: make([]byte, 64<<10)}, nil
}

// Close closes the socket; a nil Socket is closed already.
func (s *Socket) Close() {
	if s != nil {
		unix.Close(s.fd)
	}
}

// Start empties the socket's batch for new requests and returns it.
func (s *Socket) Start() *Batch {
	s.batch.reset(s.seq + 1)
	return &s.batch
}

// Exchange sends the batch Start returned and reads the kernel's verdicts:
// failed(op, errno) for each request refused. A nil error means every
// request of the batch was answered; otherwise it is an *UnknownError.
func (s *Socket) Exchange(failed func(op int, errno syscall.Errno)) error {
	s.seq += uint32(s.batch.Len())
	return s.batch.exchange(s, s.rbuf, failed)
}

// send writes b to the kernel (an unconnected netlink socket's
// destination); write and read, unlike sendto and recvfrom, allocate no
// socket address.
func (s *Socket) send(b []byte) error {
	for {
		_, err := unix.Write(s.fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err
	}
}

func (s *Socket) recv(b []byte) (int, error) {
	for {
		n, err := unix.Read(s.fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n, err
	}
}

// Dump sends the dump request StartDump began (body appended: req) and
// calls each with the payload of every message of the answer, in order
// (the payload aliases a buffer reused by the next Dump). It returns the
// kernel's errno, each's first error or ErrDumpInterrupted.
func (s *Socket) Dump(req []byte, each func(data []byte) error) error {
	s.batch.End(req, 0)
	s.seq++
	return s.batch.dump(s, s.rbuf, each)
}

// StartDump empties the socket's batch and begins a dump request of type
// typ; see Batch.StartDump.
func (s *Socket) StartDump(typ uint16) []byte {
	return s.Start().StartDump(typ)
}

package nlbatch

import (
	"encoding/binary"
	"syscall"
)

// Netlink framing (linux/netlink.h), spelled out so that the pure parts
// build and test anywhere.
const (
	headerLen = 16 // struct nlmsghdr: len, type, flags, seq, pid

	typeError = 2 // NLMSG_ERROR
	typeDone  = 3 // NLMSG_DONE

	flagRequest  = 0x1   // NLM_F_REQUEST
	flagMulti    = 0x2   // NLM_F_MULTI
	flagAck      = 0x4   // NLM_F_ACK
	flagDumpIntr = 0x10  // NLM_F_DUMP_INTR
	flagDump     = 0x300 // NLM_F_ROOT|NLM_F_MATCH
)

// Message is one netlink message of a reply: its header fields and its
// payload (which aliases the receive buffer).
type Message struct {
	Type, Flags uint16
	Seq         uint32
	Data        []byte
}

// Messages calls yield for each message in b, in order, and stops early
// when yield returns false. A message whose length runs past b (or is
// shorter than a header) is an error, EINVAL, as for
// syscall.ParseNetlinkMessage; the messages before it have been yielded.
func Messages(b []byte, yield func(Message) bool) error {
	for len(b) >= headerLen {
		n := int(binary.NativeEndian.Uint32(b))
		if n < headerLen || n > len(b) {
			return syscall.EINVAL
		}
		m := Message{
			Type:  binary.NativeEndian.Uint16(b[4:]),
			Flags: binary.NativeEndian.Uint16(b[6:]),
			Seq:   binary.NativeEndian.Uint32(b[8:]),
			Data:  b[headerLen:n],
		}
		if !yield(m) {
			return nil
		}
		n = align(n)
		if n > len(b) {
			return nil
		}
		b = b[n:]
	}
	return nil
}

// Errno is the error code of an NLMSG_ERROR message's payload (0 for an
// acknowledgement), and false when the payload is too short to hold one.
func (m Message) Errno() (syscall.Errno, bool) {
	if len(m.Data) < 4 {
		return 0, false
	}
	return syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data))), true
}

func align(n int) int { return (n + 3) &^ 3 }

// AppendHeader appends a request's nlmsghdr with a zero length (set it
// with SetLength once the body is appended) and port id 0 (the kernel's).
func AppendHeader(b []byte, typ, flags uint16, seq uint32) []byte {
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	return binary.NativeEndian.AppendUint32(b, 0)
}

// SetLength sets the length of the message that starts at start and ends
// at the end of b.
func SetLength(b []byte, start int) {
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
}

// Attr appends a netlink attribute: a 4-byte header (length, type), the
// value, padding to 4 bytes.
func Attr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Attributes calls yield for each attribute in b (its type with the
// nested and byte-order flags cleared, and its value), in order, and stops
// at the first malformed one or when yield returns false.
func Attributes(b []byte, yield func(typ uint16, v []byte) bool) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return
		}
		if !yield(binary.NativeEndian.Uint16(b[2:])&attrTypeMask, b[4:n]) {
			return
		}
		n = align(n)
		if n > len(b) {
			return
		}
		b = b[n:]
	}
}

const attrTypeMask = 0x3fff // ~(NLA_F_NESTED|NLA_F_NET_BYTEORDER)

// AttrU16 appends a 2-byte attribute in host byte order (padded to 4).
func AttrU16(b []byte, typ uint16, v uint16) []byte {
	b = attrHeader(b, typ, 2)
	b = binary.NativeEndian.AppendUint16(b, v)
	return append(b, 0, 0)
}

// AttrBE16 appends a 2-byte attribute in network byte order (a port).
func AttrBE16(b []byte, typ uint16, v uint16) []byte {
	b = attrHeader(b, typ, 2)
	b = binary.BigEndian.AppendUint16(b, v)
	return append(b, 0, 0)
}

// AttrU32 appends a 4-byte attribute in host byte order.
func AttrU32(b []byte, typ uint16, v uint32) []byte {
	b = attrHeader(b, typ, 4)
	return binary.NativeEndian.AppendUint32(b, v)
}

func attrHeader(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}

package nlbatch

import (
	"errors"
	"fmt"
)

// ErrDumpInterrupted is a dump the kernel marked as interrupted
// (NLM_F_DUMP_INTR: the table changed while it was being dumped); its
// messages may be inconsistent, and a retry may succeed.
var ErrDumpInterrupted = errors.New("dump interrupted")

// StartDump begins a dump request of type typ (NLM_F_REQUEST|NLM_F_DUMP,
// no acknowledgement asked) as the only request of the empty b, returning
// the buffer to append its body to.
func (b *Batch) StartDump(typ uint16) []byte {
	return b.Begin(typ, flagRequest|flagDump)
}

// dump sends the one request of b (a StartDump body) on c and reads its
// replies into rbuf up to NLMSG_DONE, calling each with every message's
// payload (aliasing rbuf: valid during the call only). The kernel's error
// (an NLMSG_ERROR, or NLMSG_DONE with a code) is returned as the errno;
// replies to other requests are skipped. After an error of each, the rest
// of the dump is read and dropped, so the socket is clean for the next
// request, and the first such error is returned.
func (b *Batch) dump(c conn, rbuf []byte, each func(data []byte) error) error {
	if err := c.send(b.buf); err != nil {
		return fmt.Errorf("send dump request: %w", err)
	}
	var first error
	intr := false
	for {
		n, err := c.recv(rbuf)
		if err != nil {
			return fmt.Errorf("read dump: %w", err)
		}
		done := false
		err = Messages(rbuf[:n], func(m Message) bool {
			if m.Seq != b.first {
				return true
			}
			intr = intr || m.Flags&flagDumpIntr != 0
			switch m.Type {
			case typeDone, typeError:
				done = true
				if errno, ok := m.Errno(); ok && errno != 0 && first == nil {
					first = errno
				}
				return false
			}
			if first == nil {
				first = each(m.Data)
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("read dump: %w", err)
		}
		if done {
			if first == nil && intr {
				return ErrDumpInterrupted
			}
			return first
		}
	}
}

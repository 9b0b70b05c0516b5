package nlbatch

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// Max bounds the requests of one batch: their error replies (at most one
// per request, small with NETLINK_CAP_ACK) must fit the receive buffer.
const Max = 128

// Batch is the requests of one sendmsg, numbered from the sequence number
// it was started with, each remembering the index of the operation it
// carries. Adapters append a request as End(appendBody(Begin(typ, flags)), op).
type Batch struct {
	buf   []byte
	first uint32 // sequence number of the first request
	ops   []int  // request j (sequence number first+j) carries ops[j]
	start int    // offset of the request begun last
}

// reset empties b for requests numbered from first, keeping its memory.
func (b *Batch) reset(first uint32) {
	b.buf, b.ops, b.first = b.buf[:0], b.ops[:0], first
}

// Len is the number of requests in b.
func (b *Batch) Len() int { return len(b.ops) }

// Begin starts the next request: it appends its header (type, flags, its
// sequence number; no acknowledgement asked) and returns the buffer to
// append the body to.
func (b *Batch) Begin(typ, flags uint16) []byte {
	b.start = len(b.buf)
	return AppendHeader(b.buf, typ, flags, b.first+uint32(len(b.ops)))
}

// End ends the request begun last, whose body buf now holds, as the one
// that carries operation op.
func (b *Batch) End(buf []byte, op int) {
	SetLength(buf, b.start)
	b.buf = buf
	b.ops = append(b.ops, op)
}

// seal makes the last request ask for an acknowledgement: the kernel sends
// it after every error reply of the batch, so it ends the replies.
func (b *Batch) seal() {
	flags := binary.NativeEndian.Uint16(b.buf[b.start+6:]) | flagAck
	binary.NativeEndian.PutUint16(b.buf[b.start+6:], flags)
}

// conn is the socket a batch travels on (a fake one in tests).
type conn interface {
	send(b []byte) error
	// recv reads one datagram into b, retrying on EINTR.
	recv(b []byte) (int, error)
}

// UnknownError is a batch whose replies could not all be read (or that
// could not be sent): the requests answered before it are settled, the
// fate of Op, the operation of the first request without a reply, and of
// those after it, is unknown.
type UnknownError struct {
	Op  int
	Err error // "send batch: ..." or "read batch replies: ..."
}

func (e *UnknownError) Error() string { return e.Err.Error() }
func (e *UnknownError) Unwrap() error { return e.Err }

// exchange sends b on c and reads the replies into rbuf until the
// acknowledgement of its last request, calling failed(op, errno) for each
// request the kernel refused; replies that are no error message or carry
// a sequence number outside b are skipped (late replies to an earlier
// batch, say). Replies come in request order and a success sends none, so
// when reading fails the requests up to the last one replied to are done,
// unless they failed: the error is an *UnknownError naming the first
// request after it.
func (b *Batch) exchange(c conn, rbuf []byte, failed func(op int, errno syscall.Errno)) error {
	if len(b.ops) == 0 {
		return nil
	}
	b.seal()
	last := b.first + uint32(len(b.ops)) - 1
	replied := -1
	unknown := func(err error) error {
		return &UnknownError{Op: b.ops[replied+1], Err: err}
	}
	if err := c.send(b.buf); err != nil {
		return unknown(fmt.Errorf("send batch: %w", err))
	}
	for {
		n, err := c.recv(rbuf)
		if err != nil {
			return unknown(fmt.Errorf("read batch replies: %w", err))
		}
		done := false
		err = Messages(rbuf[:n], func(m Message) bool {
			errno, ok := m.Errno()
			if m.Type != typeError || m.Seq-b.first > last-b.first || !ok {
				return true // not a reply to this batch
			}
			j := int(m.Seq - b.first)
			replied = max(replied, j)
			if errno != 0 {
				failed(b.ops[j], errno)
			}
			done = m.Seq == last
			return !done
		})
		if done {
			return nil
		}
		if err != nil {
			return unknown(fmt.Errorf("read batch replies: %w", err))
		}
	}
}

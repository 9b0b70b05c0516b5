package nlbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
)

// fakeConn records what is sent and answers with scripted datagrams, then
// with err (EAGAIN: the socket's timeout) once they run out.
type fakeConn struct {
	sent    [][]byte
	replies [][]byte
	sendErr error
}

func (c *fakeConn) send(b []byte) error {
	c.sent = append(c.sent, slices.Clone(b))
	return c.sendErr
}

func (c *fakeConn) recv(b []byte) (int, error) {
	if len(c.replies) == 0 {
		return 0, syscall.EAGAIN
	}
	n := copy(b, c.replies[0])
	c.replies = c.replies[1:]
	return n, nil
}

// errMsg is an NLMSG_ERROR reply (errno 0: an acknowledgement) to seq, as
// the kernel sends it with NETLINK_CAP_ACK: the error code and the
// request's header.
func errMsg(seq uint32, errno syscall.Errno) []byte {
	b := AppendHeader(nil, typeError, 0x100, seq) // NLM_F_CAPPED
	b = binary.NativeEndian.AppendUint32(b, uint32(-int32(errno)))
	b = AppendHeader(b, 0x1c, flagRequest, seq) // the request's header
	SetLength(b, 0)
	return b
}

func msg(typ, flags uint16, seq uint32, data []byte) []byte {
	b := AppendHeader(nil, typ, flags, seq)
	b = append(b, data...)
	SetLength(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// batchOf is a batch of n requests numbered from first, request j carrying
// op 10+j, each with a 3-byte body (so that padding shows).
func batchOf(first uint32, n int) *Batch {
	var b Batch
	b.reset(first)
	for j := range n {
		buf := b.Begin(0x1c, flagRequest)
		buf = Attr(buf, 1, []byte{byte(j), 2, 3})
		b.End(buf, 10+j)
	}
	return &b
}

type verdicts map[int]syscall.Errno

func run(b *Batch, c *fakeConn) (verdicts, error) {
	v := verdicts{}
	err := b.exchange(c, make([]byte, 64<<10), func(op int, errno syscall.Errno) { v[op] = errno })
	return v, err
}

func TestBatchFraming(t *testing.T) {
	b := batchOf(7, 3)
	c := &fakeConn{replies: [][]byte{errMsg(9, 0)}}
	if _, err := run(b, c); err != nil {
		t.Fatal(err)
	}
	if len(c.sent) != 1 {
		t.Fatalf("%d sendmsg, want 1", len(c.sent))
	}
	var got []string
	err := Messages(c.sent[0], func(m Message) bool {
		got = append(got, fmt.Sprintf("type=%#x flags=%#x seq=%d len=%d", m.Type, m.Flags, m.Seq, len(m.Data)))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"type=0x1c flags=0x1 seq=7 len=8",
		"type=0x1c flags=0x1 seq=8 len=8",
		"type=0x1c flags=0x5 seq=9 len=8", // only the last asks for an ack
	}
	if !slices.Equal(got, want) {
		t.Errorf("sent\n%q\nwant\n%q", got, want)
	}
}

// Two failures among five requests, each reply in its own datagram or
// several per datagram, and replies to an earlier batch mixed in.
func TestBatchMatchesReplies(t *testing.T) {
	for name, replies := range map[string][][]byte{
		"one per read":  {errMsg(101, syscall.EEXIST), errMsg(103, syscall.ENOENT), errMsg(104, 0)},
		"one read":      {slices.Concat(errMsg(101, syscall.EEXIST), errMsg(103, syscall.ENOENT), errMsg(104, 0))},
		"foreign seqs":  {errMsg(99, syscall.ESRCH), slices.Concat(errMsg(101, syscall.EEXIST), errMsg(105, syscall.EPERM)), errMsg(103, syscall.ENOENT), errMsg(104, 0)},
		"other types":   {msg(typeDone, 0, 101, []byte{0, 0, 0, 0}), errMsg(101, syscall.EEXIST), errMsg(103, syscall.ENOENT), errMsg(104, 0)},
		"short payload": {msg(typeError, 0, 102, []byte{1, 2}), errMsg(101, syscall.EEXIST), errMsg(103, syscall.ENOENT), errMsg(104, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := run(batchOf(100, 5), &fakeConn{replies: replies})
			if err != nil {
				t.Fatal(err)
			}
			want := verdicts{11: syscall.EEXIST, 13: syscall.ENOENT}
			if fmt.Sprint(v) != fmt.Sprint(want) {
				t.Errorf("verdicts %v, want %v", v, want)
			}
		})
	}
}

func TestBatchLastFails(t *testing.T) {
	v, err := run(batchOf(1, 2), &fakeConn{replies: [][]byte{errMsg(2, syscall.EINVAL)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (verdicts{11: syscall.EINVAL}); fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("verdicts %v, want %v", v, want)
	}
}

// Reading fails after the reply to request 1 (the timeout: EAGAIN): the
// first request without a reply is 2, its fate and its successors' are
// unknown.
func TestBatchTimeout(t *testing.T) {
	v, err := run(batchOf(100, 5), &fakeConn{replies: [][]byte{errMsg(100, syscall.EEXIST), errMsg(101, syscall.ENOENT)}})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Op != 12 || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("error %#v, want unknown from op 12 with EAGAIN", err)
	}
	if got, want := err.Error(), "read batch replies: resource temporarily unavailable"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if want := (verdicts{10: syscall.EEXIST, 11: syscall.ENOENT}); fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("verdicts %v, want %v", v, want)
	}
	// No reply at all: the first request is unknown.
	_, err = run(batchOf(1, 3), &fakeConn{})
	if !errors.As(err, &ue) || ue.Op != 10 {
		t.Fatalf("error %v, want unknown from op 10", err)
	}
}

// A reply cut short (its length runs past the datagram) is EINVAL, as
// syscall.ParseNetlinkMessage has it; the replies before it count.
func TestBatchTruncatedReply(t *testing.T) {
	r := slices.Concat(errMsg(100, syscall.EEXIST), errMsg(102, syscall.ENOENT))
	v, err := run(batchOf(100, 5), &fakeConn{replies: [][]byte{r[:len(r)-4]}})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Op != 11 || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("error %v, want unknown from op 11 with EINVAL", err)
	}
	if got, want := err.Error(), "read batch replies: invalid argument"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if want := (verdicts{10: syscall.EEXIST}); fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("verdicts %v, want %v", v, want)
	}
}

func TestBatchSendFails(t *testing.T) {
	_, err := run(batchOf(1, 3), &fakeConn{sendErr: syscall.ENOBUFS})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Op != 10 || err.Error() != "send batch: no buffer space available" {
		t.Fatalf("error %v, want unknown from op 10: send batch: ENOBUFS", err)
	}
}

func TestBatchEmptySendsNothing(t *testing.T) {
	c := &fakeConn{}
	if _, err := run(batchOf(1, 0), c); err != nil || len(c.sent) != 0 {
		t.Fatalf("err %v, %d sent; want nothing", err, len(c.sent))
	}
}

// Sequence numbers that wrap around inside a batch still match.
func TestBatchSeqWraps(t *testing.T) {
	v, err := run(batchOf(1<<32-2, 4), &fakeConn{replies: [][]byte{errMsg(1<<32-1, syscall.EEXIST), errMsg(0, syscall.ENOENT), errMsg(1, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (verdicts{11: syscall.EEXIST, 12: syscall.ENOENT}); fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("verdicts %v, want %v", v, want)
	}
}

func TestAttrsEncodeAsAttr(t *testing.T) {
	for _, tc := range []struct{ got, want []byte }{
		{AttrU16([]byte{9, 9, 9, 9}, 3, 0x1234), Attr([]byte{9, 9, 9, 9}, 3, binary.NativeEndian.AppendUint16(nil, 0x1234))},
		{AttrBE16(nil, 4, 8080), Attr(nil, 4, binary.BigEndian.AppendUint16(nil, 8080))},
		{AttrU32(nil, 5, 0xdeadbeef), Attr(nil, 5, binary.NativeEndian.AppendUint32(nil, 0xdeadbeef))},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("% x, want % x", tc.got, tc.want)
		}
	}
}

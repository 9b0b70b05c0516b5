package nlbatch

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
)

func dumpOf(seq uint32) *Batch {
	var b Batch
	b.reset(seq)
	buf := b.StartDump(0x1c)
	buf = Attr(buf, 1, []byte{1})
	b.End(buf, 0)
	return &b
}

func runDump(b *Batch, c *fakeConn, fail error) ([]string, error) {
	var got []string
	err := b.dump(c, make([]byte, 64<<10), func(data []byte) error {
		got = append(got, string(data))
		if fail != nil && len(got) == 2 {
			return fail
		}
		return nil
	})
	return got, err
}

// A dump spanning several datagrams, with replies to other requests mixed
// in, ends at NLMSG_DONE.
func TestDumpReadsUpToDone(t *testing.T) {
	c := &fakeConn{replies: [][]byte{
		slices.Concat(msg(0x1c, flagMulti, 5, []byte("a")), msg(0x1c, flagMulti, 4, []byte("old")), msg(0x1c, flagMulti, 5, []byte("bb"))),
		slices.Concat(msg(0x1c, flagMulti, 5, []byte("ccc")), msg(typeDone, flagMulti, 5, []byte{0, 0, 0, 0})),
	}}
	got, err := runDump(dumpOf(5), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Padding belongs to the datagram, not to the payload.
	if want := []string{"a", "bb", "ccc"}; !slices.Equal(got, want) {
		t.Errorf("payloads %q, want %q", got, want)
	}
	if len(c.sent) != 1 {
		t.Fatalf("%d sent", len(c.sent))
	}
	Messages(c.sent[0], func(m Message) bool {
		if m.Flags != flagRequest|flagDump || m.Seq != 5 {
			t.Errorf("request flags %#x seq %d, want %#x, 5", m.Flags, m.Seq, flagRequest|flagDump)
		}
		return true
	})
}

func TestDumpErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replies [][]byte
		fail    error
		want    string
	}{
		{"kernel error", [][]byte{errMsg(5, syscall.ESRCH)}, nil, "no such process"},
		{"done with a code", [][]byte{msg(typeDone, flagMulti, 5, []byte{0xf0, 0xff, 0xff, 0xff})}, nil, "device or resource busy"},
		{"timeout", [][]byte{msg(0x1c, flagMulti, 5, []byte("a"))}, nil, "read dump: resource temporarily unavailable"},
		{"truncated", [][]byte{msg(0x1c, flagMulti, 5, []byte("abcdefgh"))[:20]}, nil, "read dump: invalid argument"},
		{"interrupted", [][]byte{msg(0x1c, flagMulti|flagDumpIntr, 5, []byte("a")), msg(typeDone, flagMulti, 5, []byte{0, 0, 0, 0})}, nil, ErrDumpInterrupted.Error()},
		// each's error wins, and the rest of the dump is drained.
		{"each fails", [][]byte{slices.Concat(msg(0x1c, flagMulti, 5, []byte("a")), msg(0x1c, flagMulti, 5, []byte("b")), msg(0x1c, flagMulti, 5, []byte("c"))), msg(typeDone, flagMulti, 5, []byte{0, 0, 0, 0})}, errors.New("bad"), "bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeConn{replies: tc.replies}
			_, err := runDump(dumpOf(5), c, tc.fail)
			if fmt.Sprint(err) != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
			if len(c.replies) != 0 {
				t.Errorf("%d datagrams left unread", len(c.replies))
			}
		})
	}
}

func TestDumpSendFails(t *testing.T) {
	_, err := runDump(dumpOf(1), &fakeConn{sendErr: syscall.EPERM}, nil)
	if fmt.Sprint(err) != "send dump request: operation not permitted" {
		t.Errorf("error %v", err)
	}
}

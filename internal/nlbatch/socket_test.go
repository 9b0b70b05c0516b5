//go:build linux

package nlbatch

import (
	"encoding/binary"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The socket against the host's real rtnetlink, which any user may ask:
// requests the kernel refuses (a delete of an address of a link index
// that does not exist) are each answered and matched to their request,
// over several batches on one socket; a link dump reads up to its end.

func openRoute(t *testing.T) *Socket {
	t.Helper()
	s, err := Open(unix.NETLINK_ROUTE, "test")
	if err != nil {
		t.Skipf("no rtnetlink: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestSocketBatchAgainstKernel(t *testing.T) {
	s := openRoute(t)
	for round := range 3 {
		b := s.Start()
		for i := range 5 {
			buf := b.Begin(unix.RTM_DELADDR, unix.NLM_F_REQUEST)
			// struct ifaddrmsg: AF_INET /32 on link index 1<<30 (none).
			buf = append(buf, unix.AF_INET, 32, 0, 0)
			buf = binary.NativeEndian.AppendUint32(buf, 1<<30)
			buf = Attr(buf, unix.IFA_LOCAL, []byte{10, 9, byte(round), byte(i)})
			b.End(buf, 100+i)
		}
		got := map[int]syscall.Errno{}
		if err := s.Exchange(func(op int, errno syscall.Errno) { got[op] = errno }); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(got) != 5 {
			t.Fatalf("round %d: verdicts %v, want one per request", round, got)
		}
		for op, errno := range got {
			if op < 100 || op > 104 || errno == 0 {
				t.Errorf("round %d: op %d errno %v", round, op, errno)
			}
		}
	}
}

func TestSocketDumpAgainstKernel(t *testing.T) {
	s := openRoute(t)
	for range 2 {
		req := s.StartDump(unix.RTM_GETLINK)
		req = append(req, make([]byte, unix.SizeofIfInfomsg)...) // struct ifinfomsg, AF_UNSPEC
		links := 0
		err := s.Dump(req, func(data []byte) error {
			links++
			return nil
		})
		if err != nil || links == 0 {
			t.Fatalf("link dump: %d links, %v", links, err)
		}
	}
}

// What a dump costs beyond the kernel's work (allocations: none of ours
// per message); the host's link dump stands in for an IPVS one.
func BenchmarkSocketDump(b *testing.B) {
	s, err := Open(unix.NETLINK_ROUTE, "test")
	if err != nil {
		b.Skip(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		req := s.StartDump(unix.RTM_GETLINK)
		req = append(req, make([]byte, unix.SizeofIfInfomsg)...)
		if err := s.Dump(req, func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

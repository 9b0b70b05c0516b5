//go:build linux

package ipset

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

var small = sized(named(v4Port, "T-SMALL"), 4, 0)

// batchSets are the sets batchSteps work on (T-MISSING is not one of them).
var batchSets = []Set{v4Port, v6Port, v4PortIP, v6PortIP, v4PortNet, v4IP, v6IP, small}

// batchSteps is a run of adds and deletes over every set type and family
// we use, with failures in the middle (a full set, a missing set, an entry
// of the wrong family, one refused before sending) and the cases the exist
// flag makes no error (a duplicate add, a delete of a missing entry), and
// enough of them to span several sendmsg calls.
func batchSteps() []BatchOp {
	a := func(s Set, e Entry) BatchOp { return BatchOp{Cmd: BatchAdd, Set: s.Name, Entry: e} }
	d := func(s Set, e Entry) BatchOp { return BatchOp{Cmd: BatchDel, Set: s.Name, Entry: e} }
	net := ep("203.0.113.7", "tcp", 80)
	net.Net = netip.MustParsePrefix("198.51.100.0/24")
	ip4 := Entry{IP: netip.MustParseAddr("10.96.0.10")}
	ip6 := Entry{IP: netip.MustParseAddr("fd00::10")}
	ops := []BatchOp{
		a(v4Port, ep("10.96.0.10", "tcp", 53)),
		a(v4Port, ep("10.96.0.10", "tcp", 53)), // a duplicate: no error with the exist flag
		a(v4Port, ep("10.96.0.10", "udp", 53)),
		a(v6Port, ep("fd00::10", "tcp", 443)),
		a(v6Port, ep("10.96.0.10", "tcp", 443)), // wrong family: the kernel refuses it
		a(v4PortIP, epi("10.244.1.5", "tcp", 8080, "10.244.1.5")),
		a(v6PortIP, epi("fd00:244::5", "sctp", 9, "fd00:244::5")),
		a(v4PortNet, net),
		a(v4IP, ip4),
		a(v6IP, ip6),
		a(named(v4Port, "T-MISSING"), ep("10.96.0.10", "tcp", 53)), // no such set
		d(named(v4Port, "T-MISSING"), ep("10.96.0.10", "tcp", 53)), // no such set
		a(v4Port, Entry{}),                    // invalid: refused before sending
		d(v4Port, ep("10.96.0.99", "tcp", 1)), // missing: no error with the exist flag
		d(v4Port, ep("10.96.0.10", "udp", 53)),
		d(v4IP, ip4),
		d(v4IP, ip4),
		d(v6IP, ip6),
		a(v4IP, ip4),
	}
	for i, e := range portEntries(6) { // the last two: full
		ops = append(ops, a(small, e))
		if i == 4 {
			ops = append(ops, a(small, portEntries(1)[0])) // already a member of the full set: fine
		}
	}
	ops = append(ops, d(small, portEntries(1)[0]), a(small, portEntries(6)[5])) // room again
	for i := range 300 {
		ops = append(ops, a(v4Port, ep(fmt.Sprintf("10.97.%d.%d", i>>8, i&255), "tcp", 80)))
		if i == 200 { // full and missing deep in the third sendmsg
			ops = append(ops, a(small, ep("10.2.0.1", "tcp", 1)), a(named(v4Port, "T-MISSING"), ep("10.2.0.1", "tcp", 1)))
		}
	}
	return ops
}

// ensureBatchSets (re)creates the sets batchSteps work on, empty.
func ensureBatchSets(t *testing.T, k Interface) {
	t.Helper()
	for _, s := range batchSets {
		if err := k.Destroy(s.Name); err != nil {
			t.Fatal(err)
		}
		if err := k.Ensure(s); err != nil {
			t.Fatal(err)
		}
	}
}

func listBatchSets(t *testing.T, k Interface) map[string][]Entry {
	t.Helper()
	out := map[string][]Entry{}
	for _, s := range batchSets {
		es, err := k.List(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		out[s.Name] = slices.SortedFunc(slices.Values(es), Entry.Compare)
	}
	return out
}

// Batch gives, op for op, the errors of one call each, worded and wrapped
// alike, and leaves the same sets; the Fake's Batch agrees on the sentinels.
func TestKernelBatchMatchesOneByOne(t *testing.T) {
	k, _ := kernelIpset(t)
	ctx := context.Background()
	ops := batchSteps()
	ensureBatchSets(t, k)
	single := OneByOne(ctx, k, ops)
	s1 := listBatchSets(t, k)
	ensureBatchSets(t, k)
	batched := k.Batch(ctx, ops)
	s2 := listBatchSets(t, k)
	if len(batched) != len(ops) || len(single) != len(ops) {
		t.Fatalf("%d ops: %d batched results, %d single", len(ops), len(batched), len(single))
	}
	failed := 0
	for i := range ops {
		if fmt.Sprint(batched[i]) != fmt.Sprint(single[i]) || sentinels(batched[i]) != sentinels(single[i]) {
			t.Errorf("op %d %+v: batched %v; one by one %v", i, ops[i], batched[i], single[i])
		}
		if batched[i] != nil {
			failed++
			t.Logf("op %d: %v", i, batched[i])
		}
	}
	if failed != 8 {
		t.Errorf("%d ops failed, want the steps' 8", failed)
	}
	if !reflect.DeepEqual(s1, s2) {
		t.Errorf("one by one:\n%v\nbatched:\n%v", s1, s2)
	}
	f := NewFake()
	ensureBatchSets(t, f)
	fake := f.Batch(ctx, ops)
	for i := range ops {
		if (fake[i] == nil) != (batched[i] == nil) || sentinels(fake[i]) != sentinels(batched[i]) {
			t.Errorf("op %d %+v: kernel %v; fake %v", i, ops[i], batched[i], fake[i])
		}
	}
	if s3 := listBatchSets(t, f); !reflect.DeepEqual(s3, s2) {
		t.Errorf("fake:\n%v\nkernel:\n%v", s3, s2)
	}
	// A cancelled context sends nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if errs := k.Batch(cctx, ops); len(errs) != 0 {
		t.Errorf("cancelled Batch ran %d ops", len(errs))
	}
}

// sentinels names the package's sentinels err wraps.
func sentinels(err error) string {
	s := ""
	for _, e := range []error{ErrFull, ErrNotFound, ErrBusy, ErrConflict} {
		if errors.Is(err, e) {
			s += e.Error() + ";"
		}
	}
	return s
}

// BenchmarkKernelBatch adds 20,000 members to an empty hash:ip,port set one
// request each, then through Batch in apply's runs of 1,024; compare
// ns/entry between the two.
func BenchmarkKernelBatch(b *testing.B) {
	entries := make([]Entry, 0, 20000)
	for i := range 20000 {
		entries = append(entries, ep(fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), []string{"tcp", "udp"}[i%2], uint16(1000+i%7)))
	}
	ops := make([]BatchOp, len(entries))
	for i, e := range entries {
		ops[i] = BatchOp{Cmd: BatchAdd, Set: v4Port.Name, Entry: e}
	}
	for _, mode := range []string{"one-by-one", "batched"} {
		b.Run(mode, func(b *testing.B) {
			k, _ := kernelIpset(b)
			ctx := context.Background()
			var elapsed time.Duration
			iters := 0
			for b.Loop() {
				b.StopTimer()
				if err := k.Destroy(v4Port.Name); err != nil {
					b.Fatal(err)
				}
				if err := k.Ensure(v4Port); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if mode == "batched" {
					for i := 0; i < len(ops); i += 1024 {
						for _, err := range k.Batch(ctx, ops[i:min(i+1024, len(ops))]) {
							if err != nil {
								b.Fatal(err)
							}
						}
					}
				} else {
					for _, err := range OneByOne(ctx, k, ops) {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				elapsed += time.Since(start)
				iters++
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(iters*len(ops)), "ns/entry")
			b.ReportMetric(0, "ns/op")
		})
	}
}

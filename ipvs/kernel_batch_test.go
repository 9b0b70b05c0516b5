//go:build linux

package ipvs

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// batchSteps is a run of batchable requests with failures in the middle
// (EEXIST, ENOENT, ESRCH, refused before sending) and enough of them to
// span several sendmsg calls.
func batchSteps() []BatchOp {
	dr := rserver("10.244.1.6:8080", 2)
	dr.Forwarding = Route
	big := vserver(TCP, "10.96.0.20:80", "rr", 0)
	ops := []BatchOp{
		{Cmd: BatchAddVirtualServer, VirtualServer: vs4},
		{Cmd: BatchAddVirtualServer, VirtualServer: vs4},                                      // EEXIST
		{Cmd: BatchAddVirtualServer, VirtualServer: vserver(TCP, "10.96.0.11:80", "nope", 0)}, // ENOENT
		{Cmd: BatchAddRealServer, VirtualServer: vs6, RealServer: rs6},                        // ESRCH
		{Cmd: BatchAddVirtualServer, VirtualServer: vs6},
		{Cmd: BatchAddRealServer, VirtualServer: vs6, RealServer: rs6},
		{Cmd: BatchAddRealServer, VirtualServer: vs6, RealServer: rs6}, // EEXIST
		{Cmd: BatchAddRealServer, VirtualServer: vs6, RealServer: rs4}, // EINVAL, not sent
		{Cmd: BatchAddRealServer, VirtualServer: vs4, RealServer: rs4},
		{Cmd: BatchAddRealServer, VirtualServer: vs4, RealServer: dr},
		{Cmd: BatchAddRealServer, VirtualServer: vs4, RealServer: rserver("10.244.1.7:80", -1)},   // ERANGE, not sent
		{Cmd: BatchUpdateRealServer, VirtualServer: vs4, RealServer: rserver("10.244.1.7:80", 1)}, // ENOENT
		{Cmd: BatchUpdateRealServer, VirtualServer: vs4, RealServer: rserver("10.244.1.5:8080", 4)},
		{Cmd: BatchDeleteRealServer, VirtualServer: vs4, RealServer: dr},
		{Cmd: BatchDeleteRealServer, VirtualServer: vs4, RealServer: dr}, // ENOENT
		{Cmd: BatchAddVirtualServer, VirtualServer: withFlags(vserver(TCP, "10.96.0.12:80", "mh", 600), SchedFlag2)},
		{Cmd: BatchUpdateVirtualServer, VirtualServer: withFlags(vserver(TCP, "10.96.0.12:80", "sh", 0), SchedFlag1)},
		{Cmd: BatchUpdateVirtualServer, VirtualServer: vserver(TCP, "10.96.0.13:80", "rr", 0)}, // ESRCH
		{Cmd: BatchAddVirtualServer, VirtualServer: vserver(UDP, "10.96.0.14:53", "rr", 0)},
		{Cmd: BatchDeleteVirtualServer, VirtualServer: vserver(UDP, "10.96.0.14:53", "", 0)},
		{Cmd: BatchDeleteVirtualServer, VirtualServer: vserver(UDP, "10.96.0.14:53", "", 0)}, // ESRCH
		{Cmd: BatchAddVirtualServer, VirtualServer: big},
	}
	for i := range 300 {
		ops = append(ops, BatchOp{Cmd: BatchAddRealServer, VirtualServer: big,
			RealServer: RealServer{RealServerKey: RealServerKey{Address: netip.AddrFrom4([4]byte{10, 129, byte(i >> 8), byte(i)}), Port: 8080}, Weight: 1}})
		if i == 200 { // EEXIST deep in the third sendmsg
			ops = append(ops, ops[len(ops)-2])
		}
	}
	return ops
}

// Batch gives, op for op, the errors of one call each, worded alike, and
// leaves the same table; the Fake's Batch agrees on the errnos.
func TestKernelBatchMatchesOneByOne(t *testing.T) {
	k := newTestKernel(t)
	ctx := context.Background()
	ops := batchSteps()
	single := OneByOne(ctx, k, ops)
	d1, err := k.Dump()
	must(t, err)
	for _, s := range d1 {
		must(t, k.DeleteVirtualServer(s.Key))
	}
	batched := k.Batch(ctx, ops)
	d2, err := k.Dump()
	must(t, err)
	if len(batched) != len(ops) || len(single) != len(ops) {
		t.Fatalf("%d ops: %d batched results, %d single", len(ops), len(batched), len(single))
	}
	failed := 0
	for i := range ops {
		if fmt.Sprint(batched[i]) != fmt.Sprint(single[i]) || errnoOf(batched[i]) != errnoOf(single[i]) {
			t.Errorf("op %d %+v: batched %v; one by one %v", i, ops[i], batched[i], single[i])
		}
		if batched[i] != nil {
			failed++
		}
	}
	if failed != 11 {
		t.Errorf("%d ops failed, want the steps' 11", failed)
	}
	if !reflect.DeepEqual(d1, d2) {
		t.Errorf("one by one:\n%s\nbatched:\n%s", Format(d1), Format(d2))
	}
	fake := NewFake().Batch(ctx, ops)
	for i := range ops {
		if errnoOf(fake[i]) != errnoOf(batched[i]) {
			t.Errorf("op %d %+v: kernel %v; fake %v", i, ops[i], batched[i], fake[i])
		}
	}
	// A cancelled context sends nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if errs := k.Batch(cctx, ops); len(errs) != 0 {
		t.Errorf("cancelled Batch ran %d ops", len(errs))
	}
}

// BenchmarkKernelColdStartBatched is BenchmarkKernelColdStart's table
// programmed through Batch (virtual servers, then real servers, as apply
// sends them); compare ns/request between the two.
func BenchmarkKernelColdStartBatched(b *testing.B) {
	for _, vs := range benchSizes {
		b.Run(fmt.Sprintf("vs=%d,rs=%d", vs, realServersPerVS), func(b *testing.B) {
			k := newTestKernel(b)
			table := coldStart(vs)
			var vss, rss []BatchOp
			for _, s := range table {
				vss = append(vss, BatchOp{Cmd: BatchAddVirtualServer, VirtualServer: s.VirtualServer})
				for _, rs := range s.RealServers {
					rss = append(rss, BatchOp{Cmd: BatchAddRealServer, VirtualServer: s.VirtualServer, RealServer: rs})
				}
			}
			requests := len(vss) + len(rss)
			var elapsed time.Duration
			var mallocs uint64
			var before, after runtime.MemStats
			iters := 0
			ctx := context.Background()
			for b.Loop() {
				runtime.ReadMemStats(&before)
				start := time.Now()
				for _, ops := range [][]BatchOp{vss, rss} {
					for i := 0; i < len(ops); i += 1024 { // apply's run length
						for _, err := range k.Batch(ctx, ops[i:min(i+1024, len(ops))]) {
							if err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				elapsed += time.Since(start)
				runtime.ReadMemStats(&after)
				mallocs += after.Mallocs - before.Mallocs
				iters++

				b.StopTimer()
				for _, s := range table {
					if err := k.DeleteVirtualServer(s.Key); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			n := float64(iters * requests)
			b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/request")
			b.ReportMetric(float64(mallocs)/n, "allocs/request")
		})
	}
}

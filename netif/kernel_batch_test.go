//go:build linux

package netif

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"testing"
	"time"
)

// batchSteps is a run of address binds and unbinds with failures in the
// middle (a missing link, an address refused before sending) and the cases
// the single calls make no error (a second bind, an unbind of an address
// not bound, one bound with another prefix), and enough of them to span
// several sendmsg calls.
func batchSteps() []BatchOp {
	a := func(addr string) BatchOp {
		return BatchOp{Cmd: BatchAddAddress, Link: "kube-ipvs0", Addr: netip.MustParseAddr(addr)}
	}
	d := func(addr string) BatchOp {
		return BatchOp{Cmd: BatchDelAddress, Link: "kube-ipvs0", Addr: netip.MustParseAddr(addr)}
	}
	missing := BatchOp{Cmd: BatchAddAddress, Link: "nope0", Addr: netip.MustParseAddr("10.96.0.99")}
	invalid := BatchOp{Cmd: BatchAddAddress, Link: "kube-ipvs0"}
	ops := []BatchOp{
		a("10.96.0.10"), a("10.96.0.10"), a("fd00::10"), a("fd00::10"),
		missing, invalid,
		d("10.96.0.77"), // not bound: no error
		d("10.96.5.5"),  // bound as /24: found and removed
		d("fd00:5::5"),  // bound as /64
		d("10.96.0.10"),
		a("10.96.0.11"), d("fd00::10"), a("fd00::11"),
	}
	for i := range 300 {
		ops = append(ops, a(fmt.Sprintf("10.97.%d.%d", i>>8, i&255)))
		if i == 200 {
			ops = append(ops, missing, d("10.96.0.11"))
		}
	}
	return ops
}

// batchNetns is a fresh namespace with kube-ipvs0 and the two addresses
// batchSteps finds bound with another prefix.
func batchNetns(t *testing.T) (*Kernel, string) {
	k, ns := kernelNetif(t)
	if err := k.EnsureDummy("kube-ipvs0"); err != nil {
		t.Fatal(err)
	}
	ipCmd(t, ns, "addr", "add", "10.96.5.5/24", "dev", "kube-ipvs0")
	ipCmd(t, ns, "addr", "add", "fd00:5::5/64", "dev", "kube-ipvs0", "nodad")
	return k, ns
}

// ipAddrs is `ip -o addr show dev kube-ipvs0` without the link index and
// the kernel's link-local address (its interface id is random).
func ipAddrs(t *testing.T, ns string) string {
	out := ipCmd(t, ns, "-o", "addr", "show", "dev", "kube-ipvs0")
	out = regexp.MustCompile(`(?m)^\d+: `).ReplaceAllString(out, "")
	return regexp.MustCompile(`(?m)^.*inet6 fe80::.*\n`).ReplaceAllString(out, "")
}

// Batch gives, op for op, the errors of one call each, worded alike, and
// leaves the same addresses (as `ip addr` shows them: prefix, scope,
// nodad); the Fake's Batch agrees on which ops fail.
func TestKernelBatchMatchesOneByOne(t *testing.T) {
	ctx := context.Background()
	ops := batchSteps()
	k1, ns1 := batchNetns(t)
	single := OneByOne(ctx, k1, ops)
	k2, ns2 := batchNetns(t)
	batched := k2.Batch(ctx, ops)
	if len(batched) != len(ops) || len(single) != len(ops) {
		t.Fatalf("%d ops: %d batched results, %d single", len(ops), len(batched), len(single))
	}
	failed := 0
	for i := range ops {
		if fmt.Sprint(batched[i]) != fmt.Sprint(single[i]) {
			t.Errorf("op %d %+v: batched %v; one by one %v", i, ops[i], batched[i], single[i])
		}
		if batched[i] != nil {
			failed++
			t.Logf("op %d: %v", i, batched[i])
		}
	}
	if failed != 3 {
		t.Errorf("%d ops failed, want the steps' 3", failed)
	}
	if s1, s2 := ipAddrs(t, ns1), ipAddrs(t, ns2); s1 != s2 {
		t.Errorf("one by one:\n%s\nbatched:\n%s", s1, s2)
	}
	f := NewFake()
	f.AddLink("kube-ipvs0", "dummy")
	for i, err := range f.Batch(ctx, ops) {
		if (err == nil) != (batched[i] == nil) {
			t.Errorf("op %d %+v: kernel %v; fake %v", i, ops[i], batched[i], err)
		}
	}
	// A cancelled context sends nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if errs := k2.Batch(cctx, ops); len(errs) != 0 {
		t.Errorf("cancelled Batch ran %d ops", len(errs))
	}
}

// BenchmarkKernelBatch binds 5,000 addresses to kube-ipvs0 one request
// each, then through Batch in apply's runs of 1,024 (unbinding them between
// iterations); compare ns/address between the two.
func BenchmarkKernelBatch(b *testing.B) {
	ops := make([]BatchOp, 5000)
	dels := make([]BatchOp, len(ops))
	for i := range ops {
		a := netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})
		ops[i] = BatchOp{Cmd: BatchAddAddress, Link: "kube-ipvs0", Addr: a}
		dels[i] = BatchOp{Cmd: BatchDelAddress, Link: "kube-ipvs0", Addr: a}
	}
	for _, mode := range []string{"one-by-one", "batched"} {
		b.Run(mode, func(b *testing.B) {
			k, _ := kernelNetif(b)
			if err := k.EnsureDummy("kube-ipvs0"); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			run := func(ops []BatchOp) {
				var errs []error
				if mode == "batched" {
					for i := 0; i < len(ops); i += 1024 {
						errs = append(errs, k.Batch(ctx, ops[i:min(i+1024, len(ops))])...)
					}
				} else {
					errs = OneByOne(ctx, k, ops)
				}
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			var elapsed time.Duration
			iters := 0
			for b.Loop() {
				start := time.Now()
				run(ops)
				elapsed += time.Since(start)
				iters++
				b.StopTimer()
				run(dels)
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(iters*len(ops)), "ns/address")
			b.ReportMetric(0, "ns/op")
		})
	}
}

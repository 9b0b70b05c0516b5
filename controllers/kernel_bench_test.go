//go:build linux

package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkKernelColdSync is a cold full sync of 1,000 Services x 10
// endpoints into the real kernel (IPVS, ipset and the dummy link, in a
// fresh network namespace per iteration; rules and sysctls are fakes),
// with everything batched (as apply makes it through the adapters'
// Batchers), with the address adds one request each (netif's Batcher
// hidden), and with the member and address adds one request each (ipset's
// hidden too); IPVS is batched in all three. Compare s/sync and ns/change;
// run it in hack/sandbox.
func BenchmarkKernelColdSync(b *testing.B) {
	const services = 1000
	src := benchSource(services)
	for _, mode := range []string{"batched", "addresses=one-by-one", "sets+addresses=one-by-one"} {
		b.Run(mode, func(b *testing.B) {
			var elapsed time.Duration
			changes, iters := 0, 0
			for b.Loop() {
				b.StopTimer()
				k, _, _ := kernelInNetns(b)
				if mode != "batched" {
					k.Links = oneByOneLinks{k.Links}
				}
				if mode == "sets+addresses=one-by-one" {
					k.Sets = oneByOneSets{k.Sets}
				}
				r := NewReconciler(k, testConfig())
				b.StartTimer()
				start := time.Now()
				res, err := r.Full(context.Background(), src)
				elapsed += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Failed) > 0 {
					b.Fatalf("cold sync: %d failed, first %v", len(res.Failed), res.Failed[0])
				}
				changes += res.Plan.Len()
				iters++
			}
			b.ReportMetric(elapsed.Seconds()/float64(iters), "s/sync")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(changes), "ns/change")
			b.ReportMetric(float64(changes)/float64(iters), "changes/sync")
			b.ReportMetric(0, "ns/op")
			fmt.Printf("%s: %d changes in %v per cold sync\n", mode, changes/iters, elapsed/time.Duration(iters))
		})
	}
}

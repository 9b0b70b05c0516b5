package controllers

import (
	"context"
	"fmt"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	benchServices  = 10000
	benchEndpoints = 10
	// benchPods is the number of distinct endpoints: each pod backs two
	// Services, which keeps the hairpin set (one member per endpoint) under
	// its maxelem of 65536.
	benchPods = benchServices * benchEndpoints / 2
)

func podsFor(services int) int { return services * benchEndpoints / 2 }

func podIP(p int) string { return fmt.Sprintf("10.244.%d.%d", p/250, p%250+1) }

// benchSlice is the slice of Service i of services, with its endpoints
// shifted by shift.
func benchSlice(services, i, shift int) *discoveryv1.EndpointSlice {
	name := fmt.Sprintf("svc-%d", i)
	eps := make([]string, benchEndpoints)
	for j := range eps {
		eps[j] = podIP((i*benchEndpoints + j + shift) % podsFor(services))
	}
	return epSlice("default/"+name+"-1", name, "http", "", 8080, eps...)
}

func benchSource(services int) *mapSource {
	src := newSource()
	for i := range services {
		ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		src.put(service(fmt.Sprintf("default/svc-%d", i), ip, tcp("http", 80)), benchSlice(services, i, 0))
	}
	return src
}

// Cold start: a full sync of 10,000 Services x 10 endpoints into empty fakes.
func BenchmarkFullColdStart(b *testing.B) {
	src := benchSource(benchServices)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fk := newFakeKernel()
		r := newTestReconciler(b, fk)
		b.StartTimer()
		res, err := r.Full(context.Background(), src)
		if err != nil {
			b.Fatal(err)
		}
		// Per Service: a ledger member, a VIPs member, an address, a
		// virtual server and its real servers; per pod a hairpin member.
		if got, want := res.Plan.Len(), benchServices*(1+1+1+1+benchEndpoints)+benchPods; got != want {
			b.Fatalf("plan has %d operations, want %d", got, want)
		}
	}
}

// A periodic full resync of the same 10,000 Services that changes nothing.
func BenchmarkFullResyncNoChange(b *testing.B) {
	src := benchSource(benchServices)
	fk := newFakeKernel()
	r := newTestReconciler(b, fk)
	if _, err := r.Full(context.Background(), src); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuNanos()
	defer func() { b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N), "cpu-ns/op") }()
	for b.Loop() {
		res, err := r.Full(context.Background(), src)
		if err != nil {
			b.Fatal(err)
		}
		if !res.Plan.Empty() {
			b.Fatalf("plan:\n%s", res.Plan)
		}
	}
}

// One Service's endpoints change in a state of 1,000 and of 10,000 Services:
// the cost is O(changed), independent of the number of Services.
func BenchmarkIncrementalOneService(b *testing.B) {
	for _, services := range []int{1000, benchServices} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			src := benchSource(services)
			fk := newFakeKernel()
			r := newTestReconciler(b, fk)
			if _, err := r.Full(context.Background(), src); err != nil {
				b.Fatal(err)
			}
			i := services / 2
			n := types.NamespacedName{Namespace: "default", Name: fmt.Sprintf("svc-%d", i)}
			// Slim once, as the informer's transform does on an update.
			versions := [2]*slimSlice{slimOf(benchSlice(services, i, 1)), slimOf(benchSlice(services, i, 0))}
			names := []types.NamespacedName{n}
			fk.ipvs.ResetCalls()
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				src.setSlim(n, versions[k%2])
				k++
				res, err := r.Incremental(context.Background(), src, names)
				if err != nil {
					b.Fatal(err)
				}
				// One endpoint out, one in: one real server added and one deleted.
				if res.Plan.AddRealServers.Len() != 1 || len(res.Plan.DeleteRealServers) != 1 {
					b.Fatalf("plan:\n%s", res.Plan)
				}
			}
			if c := fk.ipvs.Calls(); c.Dump != 0 {
				b.Fatalf("incremental syncs dumped IPVS %d times", c.Dump)
			}
		})
	}
}

//go:build linux

package ipvs

import (
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The benchmarks measure the kernel path (they skip without IPVS, like the
// Kernel tests): a cold start of vs virtual servers with 10 real servers
// each, one netlink request per object, through Kernel and through
// `ipvsadm -R`; and a Dump of that table.
//
//	hack/sandbox -- _output/ipvs.test -test.run '^$' -test.bench . -test.benchtime 3x

const realServersPerVS = 10

// benchSizes are the numbers of virtual servers; pick one with e.g.
// -test.bench 'ColdStart/vs=1000,'.
var benchSizes = []int{100, 1000, 10000}

// coldStart is the table of a cold start: vs TCP virtual servers
// 10.96.x.y:80, each with its own 10 NAT real servers in 10.128.0.0/9.
func coldStart(vs int) []Service {
	out := make([]Service, vs)
	for i := range out {
		out[i].VirtualServer = VirtualServer{
			Key:       Key{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), Port: 80},
			Scheduler: "rr",
		}
		for j := range realServersPerVS {
			n := i*realServersPerVS + j
			out[i].RealServers = append(out[i].RealServers, RealServer{
				RealServerKey: RealServerKey{Address: netip.AddrFrom4([4]byte{10, 128 + byte(n>>16), byte(n >> 8), byte(n)}), Port: 8080},
				Weight:        1,
			})
		}
	}
	return out
}

func BenchmarkKernelColdStart(b *testing.B) {
	for _, vs := range benchSizes {
		b.Run(fmt.Sprintf("vs=%d,rs=%d", vs, realServersPerVS), func(b *testing.B) {
			k := newTestKernel(b)
			table := coldStart(vs)
			requests := vs * (1 + realServersPerVS)
			var elapsed time.Duration
			var mallocs, bytes uint64
			var before, after runtime.MemStats
			iters := 0
			b.ReportAllocs()
			for b.Loop() {
				runtime.ReadMemStats(&before)
				start := time.Now()
				for _, s := range table {
					if err := k.AddVirtualServer(s.VirtualServer); err != nil {
						b.Fatal(err)
					}
					for _, rs := range s.RealServers {
						if err := k.AddRealServer(s.Key, rs); err != nil {
							b.Fatal(err)
						}
					}
				}
				elapsed += time.Since(start)
				runtime.ReadMemStats(&after)
				mallocs += after.Mallocs - before.Mallocs
				bytes += after.TotalAlloc - before.TotalAlloc
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
			b.ReportMetric(float64(bytes)/n, "B/request")
		})
	}
}

func BenchmarkIpvsadmRestore(b *testing.B) {
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		b.Skip("ipvsadm not installed")
	}
	for _, vs := range benchSizes {
		b.Run(fmt.Sprintf("vs=%d,rs=%d", vs, realServersPerVS), func(b *testing.B) {
			k := newTestKernel(b)
			checkSameNetns(b)
			text := Format(coldStart(vs))
			requests := vs * (1 + realServersPerVS)
			var elapsed time.Duration
			iters := 0
			for b.Loop() {
				start := time.Now()
				cmd := exec.Command("ipvsadm", "-R")
				cmd.Stdin = strings.NewReader(text)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("ipvsadm -R: %v: %s", err, out)
				}
				elapsed += time.Since(start)
				iters++

				b.StopTimer()
				if dump, err := k.Dump(); err != nil || len(dump) != vs {
					b.Fatalf("after ipvsadm -R: %d virtual servers, %v", len(dump), err)
				}
				run(b, "ipvsadm", "-C")
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(iters*requests), "ns/request")
		})
	}
}

func BenchmarkKernelDump(b *testing.B) {
	for _, vs := range benchSizes {
		b.Run(fmt.Sprintf("vs=%d,rs=%d", vs, realServersPerVS), func(b *testing.B) {
			k := newTestKernel(b)
			table := coldStart(vs)
			for _, s := range table {
				must(b, k.AddVirtualServer(s.VirtualServer))
				for _, rs := range s.RealServers {
					must(b, k.AddRealServer(s.Key, rs))
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				dump, err := k.Dump()
				if err != nil || len(dump) != vs {
					b.Fatalf("Dump: %d virtual servers, %v", len(dump), err)
				}
			}
		})
	}
}

// What the rolling audit reads per step: the real servers of one virtual
// server (one destination dump) in a table of vs. Its cost per request is
// what paces the audit (controllers: auditPeriod); flat in the table size.
// path=own is RealServers (netlink_dump.go), path=moby the moby/ipvs dump
// it replaced (kernel_dump_test.go).
func BenchmarkKernelRealServers(b *testing.B) {
	for _, vs := range []int{100, 1000} {
		for _, path := range []string{"own", "moby"} {
			b.Run(fmt.Sprintf("vs=%d,rs=%d,path=%s", vs, realServersPerVS, path), func(b *testing.B) {
				k := newTestKernel(b)
				table := coldStart(vs)
				loadTable(b, k, table)
				dump := k.RealServers
				if path == "moby" {
					dump = k.mobyRealServers
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					rss, _, err := dump(table[i%vs].Key)
					if err != nil || len(rss) != realServersPerVS {
						b.Fatalf("RealServers: %d, %v", len(rss), err)
					}
					i++
				}
			})
		}
	}
}

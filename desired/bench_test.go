package desired

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Benchmark fixtures: n Services ns-<i/1000>/svc-<i>, each with one port
// (80 -> named targetPort "http" = 8080) and one EndpointSlice of 10 ready
// endpoints. The ClusterIP variant is all TCP; the NodePort variant exposes
// each Service on one node address, rotating TCP/UDP/SCTP so that 100k
// node ports stay unique (there are only 65535 ports per protocol).

const benchEndpoints = 10

var benchNode = netip.MustParseAddr("192.168.1.10")

func ipAt(base netip.Addr, off int) netip.Addr {
	b := base.As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(off)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func benchService(i int, nodePort bool) (*corev1.Service, *discoveryv1.EndpointSlice) {
	ns, name := fmt.Sprintf("ns-%d", i/1000), fmt.Sprintf("svc-%d", i)
	proto := corev1.ProtocolTCP
	sp := corev1.ServicePort{Name: "http", Protocol: proto, Port: 80, TargetPort: intstr.FromString("http")}
	typ := corev1.ServiceTypeClusterIP
	if nodePort {
		proto = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}[i%3]
		sp.Protocol = proto
		sp.NodePort = int32(1024 + i/3)
		typ = corev1.ServiceTypeNodePort
	}
	ip := ipAt(netip.MustParseAddr("10.96.0.0"), i+1).String()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type: typ, ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []corev1.ServicePort{sp},
		},
	}
	pn, pp := "http", int32(8080)
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{ServiceNameLabel: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pn, Protocol: &proto, Port: &pp}},
	}
	base := netip.MustParseAddr("10.128.0.0")
	for j := range benchEndpoints {
		node := fmt.Sprintf("node-%d", j)
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ipAt(base, i*benchEndpoints+j).String()},
			Conditions: discoveryv1.EndpointConditions{Ready: bp(true)},
			NodeName:   &node,
		})
	}
	return svc, sl
}

type benchFixture struct {
	in      Input
	desired state.State
}

var (
	benchMu       sync.Mutex
	benchFixtures = map[string]*benchFixture{}
)

// fixture builds (once per process) the input and desired state of n Services.
func fixture(b *testing.B, n int, nodePort bool) *benchFixture {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	id := fmt.Sprint(n, nodePort)
	if f, ok := benchFixtures[id]; ok {
		return f
	}
	f := &benchFixture{}
	for i := range n {
		s, sl := benchService(i, nodePort)
		f.in.Services = append(f.in.Services, s)
		f.in.Slices = append(f.in.Slices, sl)
	}
	if nodePort {
		f.in.NodeAddresses = []netip.Addr{benchNode}
	}
	var errs []error
	f.desired, errs = Build(f.in, Options{Scheduler: "rr", NodeName: "node-0"})
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	wantVS := n
	if nodePort {
		wantVS = 2 * n
	}
	if len(f.desired.Services) != wantVS {
		b.Fatalf("fixture has %d virtual servers, want %d", len(f.desired.Services), wantVS)
	}
	benchFixtures[id] = f
	return f
}

// cpuTimer starts measuring the process's CPU time (user+system, all
// threads, GC included); the returned func reports it per iteration as
// cpu-ns/op, which is far less sensitive to a loaded machine than ns/op.
func cpuTimer() func(b *testing.B, iterations int) {
	cpu := func() int64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	start := cpu()
	return func(b *testing.B, iterations int) {
		if iterations > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(iterations), "cpu-ns/op")
		}
	}
}

func benchBuild(b *testing.B, n int, nodePort bool) {
	f := fixture(b, n, nodePort)
	opt := Options{Scheduler: "rr", NodeName: "node-0"}
	runtime.GC() // do not time the collection of the fixture's garbage
	b.ReportAllocs()
	b.ResetTimer()
	stop, iters := cpuTimer(), 0
	for b.Loop() {
		st, errs := Build(f.in, opt)
		if len(errs) > 0 || len(st.Services) == 0 {
			b.Fatal(errs)
		}
		iters++
	}
	stop(b, iters)
	b.ReportMetric(float64(n), "services")
}

func BenchmarkBuild10k(b *testing.B)          { benchBuild(b, 10_000, false) }
func BenchmarkBuild100k(b *testing.B)         { benchBuild(b, 100_000, false) }
func BenchmarkBuildNodePort10k(b *testing.B)  { benchBuild(b, 10_000, true) }
func BenchmarkBuildNodePort100k(b *testing.B) { benchBuild(b, 100_000, true) }

// observedFrom returns a deep copy of d with 1% of its virtual servers
// changed: a third missing (to add), a third with another scheduler (to
// edit), a third with one real server missing and one re-weighted; plus 1%
// of the members missing and as many stale ones present.
func observedFrom(d state.State) state.State {
	o := d.Clone()
	keys := slices.SortedFunc(func(yield func(ipvs.Key) bool) {
		for k := range o.Services {
			if !yield(k) {
				return
			}
		}
	}, ipvs.Key.Compare)
	for i := 0; i < len(keys); i += 100 {
		k := keys[i]
		switch (i / 100) % 3 {
		case 0:
			delete(o.Services, k)
		case 1:
			o.Services[k].Scheduler = "wrr"
		case 2:
			rss := &o.Services[k].RealServers
			if all := rss.Slice(); len(all) > 0 {
				rss.Delete(all[0].RealServerKey)
				if len(all) > 1 {
					all[1].Weight = 2
					rss.Set(all[1])
				}
			}
		}
	}
	i := 0
	for m := range o.Members.All() {
		if i%100 == 0 {
			o.Members.Delete(m)
			stale := m
			stale.Entry.Port++
			o.Members.Add(stale)
		}
		i++
	}
	return o
}

func benchDiff(b *testing.B, n int, nodePort bool) {
	f := fixture(b, n, nodePort)
	o := observedFrom(f.desired)
	runtime.GC() // do not time the collection of the fixture's garbage
	b.ReportAllocs()
	b.ResetTimer()
	var ops int
	stop, iters := cpuTimer(), 0
	for b.Loop() {
		p := state.Diff(f.desired, o)
		ops = p.Len()
		iters++
	}
	stop(b, iters)
	if ops == 0 {
		b.Fatal("empty plan")
	}
	b.ReportMetric(float64(ops), "ops")
}

func BenchmarkDiff10k(b *testing.B)          { benchDiff(b, 10_000, false) }
func BenchmarkDiff100k(b *testing.B)         { benchDiff(b, 100_000, false) }
func BenchmarkDiffNodePort10k(b *testing.B)  { benchDiff(b, 10_000, true) }
func BenchmarkDiffNodePort100k(b *testing.B) { benchDiff(b, 100_000, true) }

// BenchmarkIndexSetOne is the incremental path: one Service's endpoints
// change in an Index of n Services; recompute its fragment, replace it,
// compute Desired(scope) and Diff it against the observed state restricted
// to the scope, and apply the plan. Its cost should not depend on n.
func BenchmarkIndexSetOne(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%dk", n/1000), func(b *testing.B) {
			f := fixture(b, n, true)
			opt := Options{Scheduler: "rr", NodeName: "node-0"}
			ix := NewIndex()
			bySvc := GroupSlices(f.in.Slices)
			for _, s := range f.in.Services {
				nn := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
				fr, err := ForService(s, bySvc[nn], f.in.NodeAddresses, opt)
				if err != nil {
					b.Fatal(err)
				}
				ix.Set(nn, fr)
			}
			observed := ix.All().Clone()

			// Two versions of the slice of Service #n/2: the second one
			// with endpoint 0 replaced.
			victim := f.in.Services[n/2]
			name := types.NamespacedName{Namespace: victim.Namespace, Name: victim.Name}
			sl1 := bySvc[name][0]
			sl2 := sl1.DeepCopy()
			sl2.Endpoints[0].Addresses = []string{"10.200.0.1"}
			versions := [][]*discoveryv1.EndpointSlice{{sl1}, {sl2}}

			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			i := 1 // versions[0] is already in the Index
			stop := cpuTimer()
			for b.Loop() {
				fr, err := ForService(victim, versions[i%2], f.in.NodeAddresses, opt)
				if err != nil {
					b.Fatal(err)
				}
				sc := ix.Set(name, fr)
				p := state.Diff(ix.Desired(sc), observed.Restrict(sc))
				if p.Empty() {
					b.Fatal("empty plan")
				}
				p.ApplyTo(&observed)
				i++
			}
			stop(b, i-1)
		})
	}
}

// BenchmarkIndexMemory100k is what an Index of 100,000 NodePort Services'
// fragments keeps: retained-MB is the heap in use with the Index (fragments,
// owners, counts) beyond the fixture, after a collection.
func BenchmarkIndexMemory100k(b *testing.B) {
	const n = 100_000
	f := fixture(b, n, true)
	opt := Options{Scheduler: "rr", NodeName: "node-0"}
	bySvc := GroupSlices(f.in.Slices)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		base := heap()
		b.StartTimer()
		ix := NewIndex()
		for _, s := range f.in.Services {
			nn := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
			fr, err := ForService(s, bySvc[nn], f.in.NodeAddresses, opt)
			if err != nil {
				b.Fatal(err)
			}
			ix.Put(nn, fr)
		}
		b.StopTimer()
		b.ReportMetric(float64(heap()-base)/(1<<20), "retained-MB")
		runtime.KeepAlive(ix)
		b.StartTimer()
	}
}

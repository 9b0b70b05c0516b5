package controllers

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// ---- Source ----

// mapSource is a map-based Source. It is safe for concurrent use so that a
// test may change it while a Runner reads it. It holds Services and
// EndpointSlices as the informer caches do, slim (slimservice.go,
// slimslice.go): a Service given is packed into a new slimService each
// time, as an informer cache holds a new object after every update.
type mapSource struct {
	mu     sync.Mutex
	svcs   map[types.NamespacedName]*slimService
	slices map[types.NamespacedName][]*slimSlice // by Service
}

var _ Source = (*mapSource)(nil)

func newSource() *mapSource {
	return &mapSource{
		svcs:   map[types.NamespacedName]*slimService{},
		slices: map[types.NamespacedName][]*slimSlice{},
	}
}

// slimAll returns the slim form of each of sls: a new object each time, as
// an informer cache holds a new object after every update (so a slice
// given again, changed in place or not, counts as changed).
func slimAll(sls []*discoveryv1.EndpointSlice) []*slimSlice {
	out := make([]*slimSlice, len(sls))
	for i, sl := range sls {
		out[i] = slimOf(sl)
	}
	return out
}

// putSlim adds or replaces a Service and its slim slices (what trim
// returned), as the informers would.
func (s *mapSource) putSlim(svc *slimService, sls ...*slimSlice) types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := svc.name()
	s.svcs[n] = svc
	if len(sls) > 0 {
		s.slices[n] = sls
	}
	return n
}

// put adds or replaces a Service and, when any are given, replaces its slices.
func (s *mapSource) put(svc *corev1.Service, sls ...*discoveryv1.EndpointSlice) types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	s.svcs[n] = slimServiceOf(svc)
	if len(sls) > 0 {
		s.slices[n] = slimAll(sls)
	}
	return n
}

// setSlices replaces the slices of Service n.
func (s *mapSource) setSlices(n types.NamespacedName, sls ...*discoveryv1.EndpointSlice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slices[n] = slimAll(sls)
}

// setSlim replaces the slices of Service n with slim ones (what trim
// returned).
func (s *mapSource) setSlim(n types.NamespacedName, sls ...*slimSlice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slices[n] = sls
}

// del removes Service n and its slices.
func (s *mapSource) del(n types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.svcs, n)
	delete(s.slices, n)
}

func (s *mapSource) Services() []*slimService {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*slimService, 0, len(s.svcs))
	for _, n := range slices.SortedFunc(maps.Keys(s.svcs), func(a, b types.NamespacedName) int {
		return strings.Compare(a.String(), b.String())
	}) {
		out = append(out, s.svcs[n])
	}
	return out
}

func (s *mapSource) Service(n types.NamespacedName) (*slimService, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.svcs[n]
	return svc, ok
}

func (s *mapSource) Slices(n types.NamespacedName) []*discoveryv1.EndpointSlice {
	s.mu.Lock()
	defer s.mu.Unlock()
	return expandAll(s.slices[n])
}

func (s *mapSource) SliceVersions(n types.NamespacedName) []sliceRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return refsOf(s.slices[n])
}

// ---- Services ----

type svcOpt func(*corev1.Service)

// service builds a ClusterIP Service "ns/name" with cluster IP ip.
func service(nsName, ip string, opts ...svcOpt) *corev1.Service {
	ns, name, _ := strings.Cut(nsName, "/")
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  ip,
			ClusterIPs: []string{ip},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// port adds a Service port named name (protocol "" = TCP) targeting the
// endpoint port of the same name.
func port(name string, proto corev1.Protocol, p, nodePort int32) svcOpt {
	return func(s *corev1.Service) {
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{
			Name: name, Protocol: proto, Port: p, NodePort: nodePort, TargetPort: intstr.FromString(name),
		})
		if nodePort != 0 {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}
	}
}

func tcp(name string, p int32) svcOpt { return port(name, corev1.ProtocolTCP, p, 0) }

func clientIP(timeout int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
	}
}

// ---- EndpointSlices ----

// epSlice builds an IPv4 EndpointSlice "ns/name" for Service svcName with one
// port (portName/proto/p) and ready endpoints at addrs, all on this node
// (testConfig's node-a), so their real servers get hairpin members.
func epSlice(nsName, svcName, portName string, proto corev1.Protocol, p int32, addrs ...string) *discoveryv1.EndpointSlice {
	ns, name, _ := strings.Cut(nsName, "/")
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{desired.ServiceNameLabel: svcName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Protocol: &proto, Port: &p}},
	}
	for _, a := range addrs {
		ready, node := true, "node-a"
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return sl
}

// ---- fake kernel ----

const dummy = "kube-ipvs0"

// fakeKernel is a controllers.Kernel over the in-memory fakes, with typed
// access to each fake.
type fakeKernel struct {
	Kernel
	ipvs    *ipvs.Fake
	sets    *ipset.Fake
	links   *netif.Fake
	rules   *rules.Fake
	sysctls *sysctl.Fake
}

// newFakeKernel returns fakes for a node with eth0 192.168.1.10 and lo
// 127.0.0.1; the dummy link is left to EnsureDummy. The sysctls start at 0.
func newFakeKernel() *fakeKernel {
	fk := &fakeKernel{
		ipvs:  ipvs.NewFake(),
		sets:  ipset.NewFake(),
		links: netif.NewFake(),
		rules: rules.NewFake(),
		sysctls: sysctl.NewFake(map[string]string{
			"net.ipv4.vs.conntrack":                 "0",
			"net.ipv4.vs.expire_nodest_conn":        "0",
			"net.ipv4.vs.expire_quiescent_template": "0",
			"net.ipv4.ip_forward":                   "0",
			"net.ipv6.conf.all.forwarding":          "0",
		}),
	}
	fk.links.AddLink("eth0", "device", netip.MustParseAddr("192.168.1.10"))
	fk.links.AddLink("lo", "loopback", netip.MustParseAddr("127.0.0.1"))
	fk.rules.SetExists = func(name string) bool {
		return slices.ContainsFunc(fk.sets.Sets(), func(s ipset.Set) bool { return s.Name == name })
	}
	fk.Kernel = Kernel{IPVS: fk.ipvs, Sets: fk.sets, Links: fk.links, Rules: fk.rules, Sysctls: fk.sysctls}
	return fk
}

// resetCalls zeroes every fake's counters (rules and sysctl record calls as
// lists; their lengths are remembered by mark).
func (fk *fakeKernel) resetCalls() mark {
	fk.ipvs.ResetCalls()
	fk.sets.ResetCalls()
	fk.links.ResetCalls()
	return mark{rules: len(fk.rules.Calls()), applies: fk.rules.Applies(), sysctls: len(fk.sysctls.Sets())}
}

// mark remembers the call lists' lengths of the fakes without counters.
type mark struct{ rules, applies, sysctls int }

// dummyAddrs lists the addresses on the dummy link.
func (fk *fakeKernel) dummyAddrs() []string {
	for _, l := range fk.links.Links() {
		if l.Name == dummy {
			var out []string
			for _, a := range l.Addrs {
				out = append(out, a.String())
			}
			return out
		}
	}
	return nil
}

// members lists the members of our sets ("SET member"), without create lines.
func (fk *fakeKernel) members() string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(fk.sets.Save(), "\n") {
		if strings.HasPrefix(l, "add ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// dump is the canonical text of everything the fakes hold that we manage.
func (fk *fakeKernel) dump() string {
	var b strings.Builder
	b.WriteString("# ipvsadm -Sn\n")
	b.WriteString(fk.ipvs.String())
	b.WriteString("# " + dummy + "\n")
	for _, a := range fk.dummyAddrs() {
		b.WriteString(a + "\n")
	}
	b.WriteString("# ipset save\n")
	b.WriteString(fk.sets.Save())
	for _, f := range []rules.Family{rules.IPv4, rules.IPv6} {
		rs, _ := fk.rules.Dump(f)
		b.WriteString(rs.String())
	}
	return b.String()
}

// ---- config and reconciler ----

func testConfig() v1alpha1.Config {
	return v1alpha1.Config{
		NodeName:       "node-a",
		Scheduler:      "rr",
		DummyInterface: dummy,
		ClusterCIDR:    "10.244.0.0/16",
		MasqueradeBit:  13,
		MinSyncPeriod:  10 * time.Millisecond,
		SyncPeriod:     time.Minute,
		LogFormat:      "text",
	}
}

func newTestReconciler(t testing.TB, fk *fakeKernel) *Reconciler {
	t.Helper()
	cfg := testConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return NewReconciler(fk.Kernel, cfg)
}

func nsn(s string) types.NamespacedName {
	ns, name, _ := strings.Cut(s, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

// mustKey parses "tcp 10.96.0.10:80".
func mustKey(s string) ipvs.Key {
	p, ap, _ := strings.Cut(s, " ")
	proto, err := ipvs.ParseProtocol(p)
	if err != nil {
		panic(err)
	}
	a := netip.MustParseAddrPort(ap)
	return ipvs.Key{Protocol: proto, Address: a.Addr(), Port: a.Port()}
}

func rs(s string) ipvs.RealServer {
	ap := netip.MustParseAddrPort(s)
	return ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: ap.Addr(), Port: ap.Port()}, Weight: 1, Forwarding: ipvs.Masquerade}
}

// diffText returns a line diff of two texts for failure messages.
func diffText(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	gs, ws := map[string]int{}, map[string]int{}
	for _, l := range g {
		gs[l]++
	}
	for _, l := range w {
		ws[l]++
	}
	var b strings.Builder
	for _, l := range w {
		if gs[l] == 0 {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if ws[l] == 0 {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

func assertText(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n--- got:\n%s--- want:\n%s--- diff (-want +got):\n%s", what, got, want, diffText(got, want))
	}
}

// assertNoMutations fails if any fake saw a mutating call since m.
func assertNoMutations(t *testing.T, fk *fakeKernel, m mark) {
	t.Helper()
	if c := fk.ipvs.Calls(); c.Mutations() != 0 {
		t.Errorf("ipvs mutations: %+v", c)
	}
	if c := fk.sets.Calls(); c.Add != 0 || c.Del != 0 || c.Create != 0 || c.Destroy != 0 {
		t.Errorf("ipset mutations: %+v", c)
	}
	if c := fk.links.Calls(); c.AddAddress != 0 || c.DelAddress != 0 || c.CreateLink != 0 {
		t.Errorf("netif mutations: %+v", c)
	}
	if n := fk.rules.Applies() - m.applies; n != 0 {
		t.Errorf("rules: %d Apply calls: %v", n, fk.rules.Calls()[m.rules:])
	}
	if s := fk.sysctls.Sets()[m.sysctls:]; len(s) != 0 {
		t.Errorf("sysctl sets: %v", s)
	}
}

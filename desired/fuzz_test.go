package desired

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// picker turns fuzz bytes into choices; when the bytes run out every choice is 0.
type picker struct{ b []byte }

func (p *picker) n(max int) int {
	if len(p.b) == 0 || max <= 1 {
		return 0
	}
	v := int(p.b[0]) % max
	p.b = p.b[1:]
	return v
}

func pick[T any](p *picker, xs ...T) T { return xs[p.n(len(xs))] }

// The alphabets are small so that Services collide, slices match and
// endpoints repeat; each holds a few invalid values too.
var (
	fuzzClusterIPs = []string{"10.96.0.10", "10.96.0.11", "fd00::10", "10.96.0.10,fd00::10", "", "None", "banana", "::ffff:10.96.0.12", "fe80::1%eth0", "10.96.0.10,10.96.0.11"}
	fuzzEndpoints  = []string{"10.244.1.1", "10.244.1.2", "fd00:244::1", "::ffff:10.244.1.1", "bogus", "10.244.1.1%x", ""}
	fuzzProtocols  = []corev1.Protocol{"", "TCP", "UDP", "SCTP", "tcp", "ICMP"}
	fuzzPorts      = []int32{80, 443, 53, 0, -1, 65535, 65536}
	fuzzNodePorts  = []int32{0, 30080, 30081, 99999, -5}
	fuzzPortNames  = []string{"", "http", "dns"}
	fuzzTypes      = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName, ""}
	fuzzNodes      = []string{"node-a", "node-b", ""}
)

// fuzzInput builds Services and EndpointSlices from b.
func fuzzInput(b []byte) Input {
	p := &picker{b: b}
	var in Input
	nsvc := 1 + p.n(4)
	for i := range nsvc {
		name := pick(p, "a", "b", "c")
		ns := pick(p, "default", "prod")
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: fmt.Sprintf("%s%d", name, i),
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, p.n(3), 0, time.UTC)),
		}}
		ips := pick(p, fuzzClusterIPs...)
		if strings.Contains(ips, ",") {
			s.Spec.ClusterIPs = strings.Split(ips, ",")
		} else {
			s.Spec.ClusterIP = ips
		}
		s.Spec.Type = pick(p, fuzzTypes...)
		for range 1 + p.n(3) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{
				Name: pick(p, fuzzPortNames...), Protocol: pick(p, fuzzProtocols...),
				Port: pick(p, fuzzPorts...), NodePort: pick(p, fuzzNodePorts...),
			})
		}
		if p.n(4) == 0 {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}
		if p.n(4) == 0 {
			l := corev1.ServiceInternalTrafficPolicyLocal
			s.Spec.InternalTrafficPolicy = &l
		}
		if p.n(4) == 0 {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
		in.Services = append(in.Services, s)
		for j := range p.n(3) {
			sl := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", s.Name, j), Labels: map[string]string{ServiceNameLabel: s.Name}},
				AddressType: pick(p, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN),
			}
			for range p.n(3) {
				name, proto, port := pick(p, fuzzPortNames...), pick(p, fuzzProtocols...), pick[int32](p, 8080, 8443, 0, 70000)
				ep := discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port}
				if p.n(5) == 0 {
					ep.Port = nil
				}
				sl.Ports = append(sl.Ports, ep)
			}
			for range p.n(4) {
				e := discoveryv1.Endpoint{Addresses: []string{pick(p, fuzzEndpoints...)}}
				node := pick(p, fuzzNodes...)
				e.NodeName = &node
				ready, serving, term := p.n(3) != 0, p.n(2) == 0, p.n(3) == 0
				e.Conditions = discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &term}
				sl.Endpoints = append(sl.Endpoints, e)
			}
			in.Slices = append(in.Slices, sl)
		}
	}
	in.NodeAddresses = addrs(pick(p, []string{"192.168.1.10"}, []string{"192.168.1.10", "fd00:1::10"}, nil)...)
	return in
}

// FuzzBuild: Build never panics, is deterministic whatever the input order,
// agrees with an Index fed in another order, and every real server sits under
// a virtual server the ledger records, of its family, with a valid port.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0, 0, 1, 0, 0, 30, 1, 0, 2, 0, 1, 0, 0, 1, 1, 0, 0, 0, 2})
	f.Add([]byte("some bytes to start from, Services galore"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := fuzzInput(b)
		o := Options{Scheduler: "rr", NodeName: "node-a"}
		st, errs := Build(in, o)

		// Deterministic, whatever order the objects come in.
		rev := Input{Services: slices.Clone(in.Services), Slices: slices.Clone(in.Slices), NodeAddresses: in.NodeAddresses}
		slices.Reverse(rev.Services)
		slices.Reverse(rev.Slices)
		st2, errs2 := Build(rev, o)
		if dump(st) != dump(st2) {
			t.Fatalf("Build depends on input order:\n%s\n---\n%s", dump(st), dump(st2))
		}
		if fmt.Sprint(errs) != fmt.Sprint(errs2) {
			t.Fatalf("Build's errors depend on input order:\n%v\n---\n%v", errs, errs2)
		}

		// The Index that run keeps, fed in reverse, agrees.
		ix := NewIndex()
		bySvc := GroupSlices(in.Slices)
		for _, s := range rev.Services {
			fr, _ := ForService(s, bySvc[ClaimOf(s).Name], in.NodeAddresses, o)
			ix.SetClaim(ClaimOf(s), fr)
		}
		if dump(ix.All()) != dump(st) {
			t.Fatalf("Index != Build:\n%s\n---\n%s", dump(ix.All()), dump(st))
		}

		checkWellFormed(t, st)

		// The plan from nothing creates exactly st, virtual servers before their real servers.
		p := state.Diff(st, state.New())
		added := map[string]bool{}
		for _, vs := range p.AddServices {
			added[vs.Key.String()] = true
		}
		for op := range p.AddRealServers.All() {
			if !added[op.Service.String()] {
				t.Fatalf("real server %v added under %v, which the plan does not add", op.RealServer, op.Service)
			}
		}
		got := state.New()
		p.ApplyTo(&got)
		if dump(got) != dump(st) {
			t.Fatalf("plan from nothing does not give the state:\n%s\n---\n%s", dump(got), dump(st))
		}
	})
}

func checkWellFormed(t *testing.T, st state.State) {
	t.Helper()
	own := ledger.Read(st.Members)
	for k, svc := range st.Services {
		if svc == nil || svc.Key != k {
			t.Fatalf("virtual server under key %v is %v", k, svc)
		}
		if !own.OwnsService(k) {
			t.Fatalf("virtual server %v has no ledger member", k)
		}
		if !k.Address.IsValid() || k.Address.Zone() != "" || k.Address.Is4In6() || k.Port == 0 {
			t.Fatalf("virtual server key %v", k)
		}
		for rs := range svc.RealServers.All() {
			rk := rs.RealServerKey
			if !rk.Address.IsValid() || rk.Address.Zone() != "" || rk.Port == 0 {
				t.Fatalf("real server %v under %v", rs, k)
			}
			if rk.Address.Is4() != k.Address.Is4() {
				t.Fatalf("real server %v of another family than %v", rk, k)
			}
		}
	}
	for a := range st.Addresses {
		if !own.OwnsAddress(a) {
			t.Fatalf("address %v has no ClusterIP ledger member", a)
		}
	}
}

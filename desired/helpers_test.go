package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// ---- Services ----

type svcOpt func(*corev1.Service)

// svc builds a ClusterIP Service ns/name with the given cluster IP(s)
// ("" for none, comma-separated for dual-stack) and options.
func svc(nsName, ips string, opts ...svcOpt) *corev1.Service {
	ns, name, _ := strings.Cut(nsName, "/")
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	if ips != "" {
		s.Spec.ClusterIPs = strings.Split(ips, ",")
		s.Spec.ClusterIP = s.Spec.ClusterIPs[0]
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// port adds a Service port: name, protocol ("" = TCP), port, nodePort, targetPort.
func port(name string, proto corev1.Protocol, p, nodePort int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{
			Name: name, Protocol: proto, Port: p, NodePort: nodePort,
			TargetPort: intstr.FromString(name),
		})
	}
}

func tcp(name string, p int32) svcOpt { return port(name, corev1.ProtocolTCP, p, 0) }

func targetPort(tp intstr.IntOrString) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports[len(s.Spec.Ports)-1].TargetPort = tp }
}

func typ(t corev1.ServiceType) svcOpt { return func(s *corev1.Service) { s.Spec.Type = t } }

func label(k, v string) svcOpt {
	return func(s *corev1.Service) {
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
}

func affinity(timeout *int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		if timeout != nil {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: timeout}}
		}
	}
}

func itpLocal() svcOpt {
	return func(s *corev1.Service) {
		p := corev1.ServiceInternalTrafficPolicyLocal
		s.Spec.InternalTrafficPolicy = &p
	}
}

func etpLocal() svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
}

func clusterIPField(ip string) svcOpt {
	return func(s *corev1.Service) { s.Spec.ClusterIP = ip; s.Spec.ClusterIPs = nil }
}

// ---- EndpointSlices ----

type sliceOpt func(*discoveryv1.EndpointSlice)

// slice builds an EndpointSlice ns/name labelled for Service svcName (in ns).
// The address type is IPv6 when the first endpoint looks like IPv6.
func slice(nsName, svcName string, opts ...sliceOpt) *discoveryv1.EndpointSlice {
	ns, name, _ := strings.Cut(nsName, "/")
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if svcName != "" {
		sl.Labels[ServiceNameLabel] = svcName
	}
	for _, o := range opts {
		o(sl)
	}
	return sl
}

func v6() sliceOpt {
	return func(sl *discoveryv1.EndpointSlice) { sl.AddressType = discoveryv1.AddressTypeIPv6 }
}

// sport adds a slice port.
func sport(name string, proto corev1.Protocol, p int32) sliceOpt {
	return func(sl *discoveryv1.EndpointSlice) {
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &p})
	}
}

type epOpt func(*discoveryv1.Endpoint)

// testNode is the node the tests run as (opt.NodeName).
const testNode = "node-a"

// ep adds an endpoint, ready and on testNode unless options say otherwise
// (on testNode, its real servers get hairpin members).
func ep(addr string, opts ...epOpt) sliceOpt {
	return func(sl *discoveryv1.EndpointSlice) {
		node := testNode
		e := discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: &node}
		for _, o := range opts {
			o(&e)
		}
		sl.Endpoints = append(sl.Endpoints, e)
	}
}

func bp(b bool) *bool { return &b }

func on(node string) epOpt { return func(e *discoveryv1.Endpoint) { e.NodeName = &node } }

// noNode clears the endpoint's nodeName.
func noNode() epOpt { return func(e *discoveryv1.Endpoint) { e.NodeName = nil } }

func ready(b bool) epOpt { return func(e *discoveryv1.Endpoint) { e.Conditions.Ready = bp(b) } }

// terminating marks the endpoint not ready, terminating, serving as given.
func terminating(serving bool) epOpt {
	return func(e *discoveryv1.Endpoint) {
		e.Conditions.Ready = bp(false)
		e.Conditions.Serving = bp(serving)
		e.Conditions.Terminating = bp(true)
	}
}

// ---- expected state ----

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func protoOf(s string) ipvs.Protocol {
	p, err := ipvs.ParseProtocol(s)
	if err != nil {
		panic(err)
	}
	return p
}

// key parses "tcp 10.96.0.10:80" / "udp [fd00::a]:53".
func key(s string) ipvs.Key {
	p, ap, _ := strings.Cut(s, " ")
	a := netip.MustParseAddrPort(ap)
	return ipvs.Key{Protocol: protoOf(p), Address: a.Addr(), Port: a.Port()}
}

// want is a compact description of a State used to build expectations.
type want struct {
	vs    map[string]vsWant // key string ("tcp 10.96.0.10:80") -> settings
	addrs []string
	mems  []string // "SET member" in ipset save syntax
}

type vsWant struct {
	sched   string
	timeout uint32
	rs      []string // "10.244.1.5:8080"
}

func (w want) state() state.State {
	st := state.New()
	for k, v := range w.vs {
		kk := key(k)
		st.AddService(ipvs.VirtualServer{Key: kk, Scheduler: v.sched, Timeout: v.timeout})
		for _, r := range v.rs {
			ap := netip.MustParseAddrPort(r)
			st.AddRealServer(kk, ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: ap.Addr(), Port: ap.Port()}, Weight: 1, Forwarding: ipvs.Masquerade})
		}
	}
	for _, a := range w.addrs {
		st.AddAddress(addr(a))
	}
	vips := false
	for _, m := range w.mems {
		set, e := parseMember(m)
		st.AddMember(set, e)
		vips = vips || set == Sets(e.IP).VIPs
	}
	// Every dummy-link address is a member of the VIPs set (the port filter):
	// a want that lists no VIPs member gets one per address.
	for a := range st.Addresses {
		if !vips {
			st.AddMember(Sets(a).VIPs, ipset.Entry{IP: a})
		}
	}
	return st
}

// parseMember parses "SET ip,proto:port[,ip2|,net/bits]" or "SET ip".
func parseMember(s string) (string, ipset.Entry) {
	set, rest, _ := strings.Cut(s, " ")
	parts := strings.Split(rest, ",")
	if len(parts) == 1 {
		return set, ipset.Entry{IP: addr(parts[0])}
	}
	p, po, _ := strings.Cut(parts[1], ":")
	var n uint16
	fmt.Sscan(po, &n)
	e := ipset.Entry{IP: addr(parts[0]), Protocol: p, Port: n}
	if len(parts) > 2 {
		if strings.Contains(parts[2], "/") {
			e.Net = netip.MustParsePrefix(parts[2])
		} else {
			e.IP2 = addr(parts[2])
		}
	}
	return set, e
}

// dump renders a State deterministically, one fact a line, for diffs in failures.
func dump(st state.State) string {
	var lines []string
	for k, s := range st.Services {
		lines = append(lines, fmt.Sprintf("vs %s %s sched=%s timeout=%d", k.Protocol, netip.AddrPortFrom(k.Address, k.Port), s.Scheduler, s.Timeout))
		if s.Key != k {
			lines = append(lines, fmt.Sprintf("vs %v: MISMATCHED KEY %v", k, s.Key))
		}
		for r := range s.RealServers.All() {
			lines = append(lines, fmt.Sprintf("rs %s %s -> %s w=%d fwd=%d", k.Protocol, netip.AddrPortFrom(k.Address, k.Port), netip.AddrPortFrom(r.Address, r.Port), r.Weight, r.Forwarding))
		}
	}
	for a := range st.Addresses {
		lines = append(lines, "addr "+a.String())
	}
	for m := range st.Members.All() {
		lines = append(lines, "member "+m.Set+" "+m.Entry.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func equalStates(a, b state.State) bool { return dump(a) == dump(b) }

func assertState(t *testing.T, got, want state.State) {
	t.Helper()
	if g, w := dump(got), dump(want); g != w {
		t.Errorf("state mismatch\n--- got:\n%s\n--- want:\n%s", g, w)
	}
}

func nn(s string) types.NamespacedName {
	ns, name, _ := strings.Cut(s, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = addr(s)
	}
	return out
}

// members lists the set members of st as "SET member", sorted.
func members(st state.State) []string {
	var out []string
	for m := range st.Members.All() {
		out = append(out, m.Set+" "+m.Entry.String())
	}
	slices.Sort(out)
	return out
}

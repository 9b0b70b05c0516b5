package controllers

import (
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// interner is the transform's table of the strings every informer object
// repeats, so that the caches hold one copy of each rather than one per
// object (decoding gives every string of every object its own allocation).
// It is bounded two ways: the known values (enum values of the types the
// proxy reads, the label keys it keeps) are a fixed, read-only set; other
// short strings (namespaces, port names, the endpoints' node names) are
// kept only while the table holds fewer than internCap of them and only
// when at most internMaxLen bytes long, and past that pass unchanged. Its
// values and the pointers it hands out are shared by every cached object:
// informer caches are read-only, and nothing may write through them.
type interner struct {
	mu    sync.Mutex
	strs  map[string]string
	ptrs  map[string]*string
	ports map[int32]*int32
}

const (
	internCap    = 4096 // strings, pointers to strings, pointers to ports: each
	internMaxLen = 63   // a DNS label: namespaces, port names, most node names
)

// known is the fixed part of the table, written once at init and only
// read after, so it needs no lock.
var known = map[string]string{}

func init() {
	for _, s := range []string{
		string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort), string(corev1.ServiceTypeLoadBalancer),
		string(corev1.ServiceTypeExternalName),
		string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP),
		string(corev1.IPv4Protocol), string(corev1.IPv6Protocol),
		string(corev1.IPFamilyPolicySingleStack), string(corev1.IPFamilyPolicyPreferDualStack), string(corev1.IPFamilyPolicyRequireDualStack),
		string(corev1.ServiceAffinityNone), string(corev1.ServiceAffinityClientIP),
		string(corev1.ServiceExternalTrafficPolicyCluster), string(corev1.ServiceExternalTrafficPolicyLocal),
		string(corev1.ServiceInternalTrafficPolicyCluster), string(corev1.ServiceInternalTrafficPolicyLocal),
		corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone,
		corev1.ServiceTrafficDistributionPreferSameNode,
		string(corev1.LoadBalancerIPModeVIP), string(corev1.LoadBalancerIPModeProxy),
		string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6), string(discoveryv1.AddressTypeFQDN),
		desired.ServiceNameLabel, desired.ProxyNameLabel, desired.HeadlessLabel, corev1.LabelTopologyZone,
		corev1.ClusterIPNone, "default", "kube-system",
	} {
		known[s] = s
	}
}

// Shared pointers to the enum values the API types hold by pointer.
var (
	protocolPtrs = map[corev1.Protocol]*corev1.Protocol{}
	internalPtrs = map[corev1.ServiceInternalTrafficPolicy]*corev1.ServiceInternalTrafficPolicy{}
	ipModePtrs   = map[corev1.LoadBalancerIPMode]*corev1.LoadBalancerIPMode{}
)

func init() {
	for _, p := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
		protocolPtrs[p] = &p
	}
	for _, p := range []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal} {
		internalPtrs[p] = &p
	}
	for _, p := range []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy} {
		ipModePtrs[p] = &p
	}
}

// tables is the transform's interner, shared by the informers (each runs
// its transform on its own goroutine).
var tables = newInterner()

func newInterner() *interner {
	return &interner{strs: map[string]string{}, ptrs: map[string]*string{}, ports: map[int32]*int32{}}
}

// str returns the table's copy of s: a known value, else a short string
// the table holds or takes while it has room, else s itself.
func (t *interner) str(s string) string {
	if k, ok := known[s]; ok {
		return k
	}
	if s == "" || len(s) > internMaxLen {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if k, ok := t.strs[s]; ok {
		return k
	}
	if len(t.strs) >= internCap {
		return s
	}
	s = strings.Clone(s) // never pin a larger buffer s may be part of
	t.strs[s] = s
	return s
}

// strPtr returns a shared pointer to the table's copy of *p (nil for nil).
func (t *interner) strPtr(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	if len(s) > internMaxLen {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if q, ok := t.ptrs[s]; ok {
		return q
	}
	if len(t.ptrs) >= internCap {
		return p
	}
	if k, ok := known[s]; ok {
		s = k
	} else if k, ok := t.strs[s]; ok {
		s = k
	} else {
		s = strings.Clone(s)
	}
	q := &s
	t.ptrs[s] = q
	return q
}

// port returns a shared pointer to *p's value (nil for nil).
func (t *interner) port(p *int32) *int32 {
	if p == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if q, ok := t.ports[*p]; ok {
		return q
	}
	if len(t.ports) >= internCap {
		return p
	}
	v := *p
	t.ports[v] = &v
	return &v
}

// enumPtr returns the shared pointer to *p's value when the fixed set has
// one, else p.
func enumPtr[T ~string](set map[T]*T, p *T) *T {
	if p == nil {
		return nil
	}
	if q, ok := set[*p]; ok {
		return q
	}
	return p
}

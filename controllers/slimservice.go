package controllers

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// slimService is what the Service informer's cache holds for each Service
// (issue #7), as slimSlice is for EndpointSlices: the fields the proxy
// reads, packed, where a trimmed *corev1.Service spent 640 of its ~812 B
// on the API struct (BenchmarkTrimmedObjectBytes). The Source hands it out
// as it is, so that what decides whether a Service changed (fragcache.go,
// the periodic refresh, the health checks' filter) never expands it;
// expand builds the *corev1.Service desired/ reads, only for the Services
// a sync rebuilds.
//
// What desired/ and controllers/ read from a Service, and where it is kept:
//
//   - Namespace, Name (keys, errors), UID, ResourceVersion (fragcache.go),
//     Generation: slimMeta; creationTimestamp (desired/conflicts.go
//     ClaimOf: the older of two claimants wins): created.
//   - label service.kubernetes.io/service-proxy-name, presence and value
//     (desired/proxied.go ProxiedService): rare.proxyName and a bit; label
//     service.kubernetes.io/headless, its presence (kept as trim kept it;
//     on a Service it is no filter): a bit. kubernetes.io/service-name
//     names a slice's Service and is dropped from Services.
//   - annotations with a kept prefix (keptAnnotationPrefixes; the
//     scheduler's, desired/scheduler.go): rare.annotations.
//   - spec.type, externalTrafficPolicy, sessionAffinity,
//     internalTrafficPolicy (nil apart from set): a code each (svcEnums),
//     an unknown value kept as a string in rare.odd (desired/ compares
//     them with the known values only, but an expanded Service says what
//     the API said).
//   - spec.clusterIP and clusterIPs (desired/service.go clusterIPs, skip):
//     clusterIPs as given (their text is in errors), clusterIP as
//     clusterIPs[0] (or "" without any) unless it differs: then
//     rare.clusterIP.
//   - spec.ports: name, protocol, port, nodePort (desired/service.go,
//     endpoints.go pick, topology.go): slimServicePort, 40 B where a
//     ServicePort is 88. targetPort and appProtocol are not read (the
//     EndpointSlices carry the target ports) and are dropped.
//   - spec.sessionAffinityConfig.clientIP.timeoutSeconds, nil apart from
//     set (desired/service.go): affinityTimeout and a bit; the levels above
//     it (a config without clientIP) read as no timeout, and expand as nil.
//   - spec.healthCheckNodePort (desired/external.go): healthCheckNodePort.
//   - spec.externalIPs, loadBalancerSourceRanges and
//     status.loadBalancer.ingress IP and ipMode (desired/external.go,
//     topology.go; BindCandidates): rare, in their API types (few Services
//     have them, and expand shares them as they are).
//
// Not kept, as nothing reads them: the selector, ipFamilies,
// ipFamilyPolicy, trafficDistribution (topology comes from the slices'
// hints), allocateLoadBalancerNodePorts, loadBalancerIP, the ingress
// hostnames and ports, deletionTimestamp, other labels and annotations.
//
// It implements runtime.Object and (through slimMeta) metav1.Object, so
// that client-go's key functions, indexers and DeletedFinalStateUnknown
// work on it. Nothing may write through it: informer caches are read-only.
type slimService struct {
	slimMeta // Name, Namespace, UID, ResourceVersion, Generation

	created             int64    // creationTimestamp, Unix nanoseconds; valid with svcCreated
	clusterIPs          []string // spec.clusterIPs as given (their text packed with the name)
	ports               []slimServicePort
	rare                *serviceRare // nil for most Services
	healthCheckNodePort int32
	affinityTimeout     int32 // valid with svcAffinityTimeout
	enums               [numEnums]uint8
	flags               uint8
}

// slimServicePort is one spec.ports entry as desired/ reads it. The name
// and protocol are the interner's. The numbers are kept as given:
// desired/ reports those out of range.
type slimServicePort struct {
	name     string
	protocol corev1.Protocol
	port     int32
	nodePort int32
}

// serviceRare holds what few Services have; the slices and the map are
// handed out by expand as they are (nothing writes through them).
type serviceRare struct {
	clusterIP    string // spec.clusterIP when it is not clusterIPs[0] (svcOwnClusterIP)
	proxyName    string // label service.kubernetes.io/service-proxy-name (svcProxyNamed)
	externalIPs  []string
	sourceRanges []string
	ingress      []corev1.LoadBalancerIngress // IP and IPMode only
	annotations  map[string]string
	odd          [numEnums]string // the values coded enumOdd
}

const (
	svcCreated         = 1 << iota // created is set
	svcOwnClusterIP                // spec.clusterIP is rare.clusterIP
	svcAffinityTimeout             // affinityTimeout is set
	svcProxyNamed                  // labelled service-proxy-name (rare.proxyName)
	svcHeadless                    // labelled service.kubernetes.io/headless
)

// The enum fields, by index into slimService.enums, and their known
// values: a field's code is the index of its value in svcEnums[field],
// enumOdd for another one (kept in rare.odd). For the internal traffic
// policy, a pointer, code 0 is nil.
const (
	enumType = iota
	enumExternalPolicy
	enumAffinity
	enumInternalPolicy
	numEnums
)

const enumOdd = 0xff

var svcEnums = [numEnums][]string{
	enumType: {"", string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort),
		string(corev1.ServiceTypeLoadBalancer), string(corev1.ServiceTypeExternalName)},
	enumExternalPolicy: {"", string(corev1.ServiceExternalTrafficPolicyCluster), string(corev1.ServiceExternalTrafficPolicyLocal)},
	enumAffinity:       {"", string(corev1.ServiceAffinityNone), string(corev1.ServiceAffinityClientIP)},
	enumInternalPolicy: {"(nil)", string(corev1.ServiceInternalTrafficPolicyCluster), string(corev1.ServiceInternalTrafficPolicyLocal)},
}

// The codes mayHealthCheck looks for.
var (
	codeLoadBalancer = uint8(slices.Index(svcEnums[enumType], string(corev1.ServiceTypeLoadBalancer)))
	codeLocal        = uint8(slices.Index(svcEnums[enumExternalPolicy], string(corev1.ServiceExternalTrafficPolicyLocal)))
)

var _ runtime.Object = (*slimService)(nil)
var _ metav1.Object = (*slimService)(nil)

// GetLabels returns the labels the Service keeps (a new map; nil for none).
func (s *slimService) GetLabels() map[string]string { return s.labels() }

// SetLabels does nothing: a slimService keeps its labels as fields.
func (s *slimService) SetLabels(map[string]string) {}

// GetAnnotations returns the kept annotations (the cache's map: read only).
func (s *slimService) GetAnnotations() map[string]string {
	if s.rare == nil {
		return nil
	}
	return s.rare.annotations
}

// GetCreationTimestamp returns the creation time the Service keeps.
func (s *slimService) GetCreationTimestamp() metav1.Time {
	if s.flags&svcCreated == 0 {
		return metav1.Time{}
	}
	return metav1.NewTime(time.Unix(0, s.created))
}

// GetObjectKind has no kind to tell: informer objects carry none either.
func (s *slimService) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject copies what the Service owns; what it shares (strings,
// the rare part's slices and map) stays shared, as nothing writes through
// it.
func (s *slimService) DeepCopyObject() runtime.Object {
	c := *s
	c.clusterIPs = slices.Clone(s.clusterIPs)
	c.ports = slices.Clone(s.ports)
	if s.rare != nil {
		r := *s.rare
		c.rare = &r
	}
	return &c
}

// slimServiceOf packs svc into a slimService; svc is read, not changed.
// The name, UID, resource version and cluster IPs are packed into one
// allocation (pack); the namespace, enum values, port names and protocols
// are the interner's.
func slimServiceOf(svc *corev1.Service) *slimService {
	sp := &svc.Spec
	s := &slimService{
		slimMeta: slimMeta{
			Name: svc.Name, Namespace: tables.str(svc.Namespace), UID: svc.UID,
			ResourceVersion: svc.ResourceVersion, Generation: svc.Generation,
		},
		healthCheckNodePort: sp.HealthCheckNodePort,
	}
	var rare serviceRare // copied to the heap only when the Service has any of it
	odd := false         // an enum value is kept in rare.odd ("" among them)
	code := func(field int, v string) {
		c := slices.Index(svcEnums[field], v)
		if c < 0 {
			c, odd = enumOdd, true
			rare.odd[field] = v
		}
		s.enums[field] = uint8(c)
	}
	code(enumType, string(sp.Type))
	code(enumExternalPolicy, string(sp.ExternalTrafficPolicy))
	code(enumAffinity, string(sp.SessionAffinity))
	if p := sp.InternalTrafficPolicy; p != nil {
		code(enumInternalPolicy, string(*p))
		if s.enums[enumInternalPolicy] == 0 { // the value "(nil)" itself
			s.enums[enumInternalPolicy], odd = enumOdd, true
			rare.odd[enumInternalPolicy] = string(*p)
		}
	}
	if t := svc.CreationTimestamp; !t.IsZero() {
		s.created, s.flags = t.UnixNano(), s.flags|svcCreated
	}

	// Own strings in one allocation; "None" (headless) is the interner's.
	own := []*string{&s.Name, (*string)(&s.UID), &s.ResourceVersion}
	if len(sp.ClusterIPs) > 0 {
		s.clusterIPs = slices.Clone(sp.ClusterIPs)
		for i := range s.clusterIPs {
			if s.clusterIPs[i] == corev1.ClusterIPNone {
				s.clusterIPs[i] = corev1.ClusterIPNone
			} else {
				own = append(own, &s.clusterIPs[i])
			}
		}
	}
	first := ""
	if len(sp.ClusterIPs) > 0 {
		first = sp.ClusterIPs[0]
	}
	if sp.ClusterIP != first {
		s.flags |= svcOwnClusterIP
		rare.clusterIP = sp.ClusterIP // an address would only fill the interner's table
		if rare.clusterIP == corev1.ClusterIPNone {
			rare.clusterIP = corev1.ClusterIPNone
		}
	}
	pack(own...)

	if len(sp.Ports) > 0 {
		s.ports = make([]slimServicePort, len(sp.Ports))
		for i, p := range sp.Ports {
			s.ports[i] = slimServicePort{
				name: tables.str(p.Name), protocol: corev1.Protocol(tables.str(string(p.Protocol))),
				port: p.Port, nodePort: p.NodePort,
			}
		}
	}
	if c := sp.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		s.affinityTimeout, s.flags = *c.ClientIP.TimeoutSeconds, s.flags|svcAffinityTimeout
	}
	if v, ok := svc.Labels[desired.ProxyNameLabel]; ok {
		rare.proxyName, s.flags = tables.str(v), s.flags|svcProxyNamed
	}
	if _, ok := svc.Labels[desired.HeadlessLabel]; ok {
		s.flags |= svcHeadless
	}
	rare.externalIPs = slices.Clone(sp.ExternalIPs)
	rare.sourceRanges = slices.Clone(sp.LoadBalancerSourceRanges)
	if in := svc.Status.LoadBalancer.Ingress; len(in) > 0 {
		rare.ingress = make([]corev1.LoadBalancerIngress, len(in))
		for i, ing := range in {
			rare.ingress[i] = corev1.LoadBalancerIngress{IP: ing.IP, IPMode: enumPtr(ipModePtrs, ing.IPMode)}
		}
	}
	for k, v := range svc.Annotations {
		for _, p := range keptAnnotationPrefixes {
			if strings.HasPrefix(k, p) {
				if rare.annotations == nil {
					rare.annotations = map[string]string{}
				}
				rare.annotations[k] = v
				break
			}
		}
	}
	if s.flags&(svcOwnClusterIP|svcProxyNamed) != 0 || rare.externalIPs != nil || rare.sourceRanges != nil ||
		rare.ingress != nil || rare.annotations != nil || odd {
		s.rare = &serviceRare{}
		*s.rare = rare
	}
	return s
}

// labels are the Service's kept labels as the API has them (nil for none).
func (s *slimService) labels() map[string]string {
	if s.flags&(svcProxyNamed|svcHeadless) == 0 {
		return nil
	}
	l := make(map[string]string, 2)
	if s.flags&svcProxyNamed != 0 {
		l[desired.ProxyNameLabel] = s.rare.proxyName
	}
	if s.flags&svcHeadless != 0 {
		l[desired.HeadlessLabel] = ""
	}
	return l
}

// enum is the value of an enum field.
func (s *slimService) enum(field int) string {
	if c := s.enums[field]; c != enumOdd {
		return svcEnums[field][c]
	}
	return s.rare.odd[field]
}

// expand builds the *corev1.Service desired/ reads: the fields listed on
// slimService. It allocates the struct, its ports, a label map when the
// Service keeps labels and the affinity config when it has a timeout; what
// it shares with s (strings, the cluster IPs, the rare part's slices and
// map, the IP-mode pointers) must not be written through.
func (s *slimService) expand() *corev1.Service {
	out := &corev1.Service{ObjectMeta: s.objectMeta()}
	out.Labels = s.labels()
	out.CreationTimestamp = s.GetCreationTimestamp()
	sp := &out.Spec
	sp.Type = corev1.ServiceType(s.enum(enumType))
	sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(s.enum(enumExternalPolicy))
	sp.SessionAffinity = corev1.ServiceAffinity(s.enum(enumAffinity))
	switch c := s.enums[enumInternalPolicy]; c {
	case 0:
	case enumOdd:
		sp.InternalTrafficPolicy = (*corev1.ServiceInternalTrafficPolicy)(&s.rare.odd[enumInternalPolicy])
	default:
		sp.InternalTrafficPolicy = internalPtrs[corev1.ServiceInternalTrafficPolicy(svcEnums[enumInternalPolicy][c])]
	}
	sp.ClusterIPs = s.clusterIPs
	if s.flags&svcOwnClusterIP != 0 {
		sp.ClusterIP = s.rare.clusterIP
	} else if len(s.clusterIPs) > 0 {
		sp.ClusterIP = s.clusterIPs[0]
	}
	if len(s.ports) > 0 {
		sp.Ports = make([]corev1.ServicePort, len(s.ports))
		for i, p := range s.ports {
			sp.Ports[i] = corev1.ServicePort{Name: p.name, Protocol: p.protocol, Port: p.port, NodePort: p.nodePort}
		}
	}
	if s.flags&svcAffinityTimeout != 0 {
		sp.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &s.affinityTimeout}}
	}
	sp.HealthCheckNodePort = s.healthCheckNodePort
	if r := s.rare; r != nil {
		out.Annotations = r.annotations
		sp.ExternalIPs = r.externalIPs
		sp.LoadBalancerSourceRanges = r.sourceRanges
		out.Status.LoadBalancer.Ingress = r.ingress
	}
	return out
}

// name is the Service's namespace and name.
func (s *slimService) name() types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
}

// claim is desired.ClaimOf of the expanded Service, without expanding it.
func (s *slimService) claim() desired.Claim {
	return desired.Claim{Name: s.name(), Created: s.GetCreationTimestamp().Time}
}

// mayHealthCheck tells whether the Service may have a health check (a
// LoadBalancer with externalTrafficPolicy Local and a healthCheckNodePort
// in range), without expanding it: desired.HealthCheck answers for those
// that may, and is false for every other.
func (s *slimService) mayHealthCheck() bool {
	return s.enums[enumType] == codeLoadBalancer && s.enums[enumExternalPolicy] == codeLocal &&
		s.healthCheckNodePort > 0 && s.healthCheckNodePort <= 65535
}

// mayBind tells whether the Service has external IPs or load-balancer
// ingress (desired.BindCandidates is empty for every other), without
// expanding it.
func (s *slimService) mayBind() bool {
	return s.rare != nil && (len(s.rare.externalIPs) > 0 || len(s.rare.ingress) > 0)
}

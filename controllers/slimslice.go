package controllers

import (
	"maps"
	"net/netip"
	"slices"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// slimSlice is what the EndpointSlice informer's cache holds for each
// EndpointSlice (issue #7): the fields the proxy reads, packed, about a
// third of a trimmed *discoveryv1.EndpointSlice (BenchmarkTrimmedObjectBytes).
// The Source expands it back (expand) for desired/, which keeps the API
// types.
//
// What desired/ and controllers/ read from an EndpointSlice, and where it
// is kept here:
//
//   - Namespace, Name (desired/endpoints.go: errors, the tie-break between
//     copies; client-go's keys), UID, ResourceVersion (fragcache.go),
//     Generation: slimMeta (slimmeta.go), not a metav1.ObjectMeta (232 B)
//     and no labels map (a one-label map costs ~400 B).
//   - label kubernetes.io/service-name (informers.go serviceOf,
//     sliceindex.go, status.go SliceHandler, desired/build.go
//     GroupSlices): service. Absent and "" read the same everywhere.
//   - label service.kubernetes.io/headless, its presence only
//     (desired/proxied.go ProxiedSlice): the headless bit. The informer's
//     label selector keeps such slices out in production; the bit keeps
//     ProxiedSlice's answer for any object that still has it.
//     service.kubernetes.io/service-proxy-name is read from Services only
//     (on a slice it is no filter) and is dropped.
//   - AddressType (desired/endpoints.go pick).
//   - Ports: Name, Protocol, Port (desired/endpoints.go slicePort,
//     desired/protocol.go checkSlicePorts); AppProtocol is kept too
//     (shared pointers, as trim shared them before).
//   - per endpoint: Addresses[0] only and whether there is one
//     (desired/endpoints.go endpoint, desired/external.go HealthCheck: like
//     kube-proxy's endpointslicecache.go, only the first address counts);
//     Conditions Ready/Serving/Terminating with nil apart from false (a nil
//     Ready or Serving reads as true); NodeName; Hints (ForZones, ForNodes).
//   - annotation endpoints.kubernetes.io/last-change-trigger-time
//     (status.go SliceHandler, for the network programming latency): trigger.
//
// It implements runtime.Object and (through slimMeta) metav1.Object, so
// that client-go's key functions, indexers and DeletedFinalStateUnknown
// work on it. Nothing may write through it: informer caches are read-only.
type slimSlice struct {
	slimMeta // Name, Namespace, UID, ResourceVersion, Generation

	service     string // label kubernetes.io/service-name, "" when none
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort // pointers shared (intern.go)
	eps         []slimEndpoint
	// raw holds, by endpoint index, the first addresses that are not an
	// IP address in canonical form (a zone, a typo, an FQDN slice's names);
	// nil when every address packs.
	raw map[int32]string
	// hints holds, by endpoint index, the endpoints' hints (rare: topology
	// aware routing); nil when none has any.
	hints   map[int32]*discoveryv1.EndpointHints
	trigger int64 // the last-change trigger time, Unix nanoseconds; 0 when none
	flags   uint8 // sliceHeadless
}

const sliceHeadless = 1 // labelled service.kubernetes.io/headless

// slimEndpoint is one endpoint: its first address as 16 bytes (IPv4 mapped
// into IPv6, told apart by kind), its conditions as 2 bits each and its
// node name (shared, intern.go): 32 bytes. Its hints are the slice's
// (slimSlice.hints).
type slimEndpoint struct {
	addr [16]byte
	node *string
	cond uint8 // 2 bits each: ready, serving, terminating (condNil, condFalse, condTrue)
	kind uint8 // addrNone, addrV4, addrV6, addrRaw
}

const (
	addrNone = iota // no address
	addrV4          // addr holds an IPv4 address (mapped)
	addrV6          // addr holds an IPv6 address (an IPv4-mapped one among them)
	addrRaw         // raw[i] holds the address
)

const (
	condNil = iota
	condFalse
	condTrue
)

const (
	readyShift       = 0
	servingShift     = 2
	terminatingShift = 4
)

var _ runtime.Object = (*slimSlice)(nil)
var _ metav1.Object = (*slimSlice)(nil)

// GetLabels returns the labels the slice keeps (a new map; nil for none).
func (s *slimSlice) GetLabels() map[string]string { return s.labels() }

// SetLabels does nothing: a slimSlice keeps its labels as fields.
func (s *slimSlice) SetLabels(map[string]string) {}

// GetObjectKind has no kind to tell: informer objects carry none either.
func (s *slimSlice) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject copies what the slice owns; what it shares (strings, the
// interned pointers, hints) stays shared, as nothing writes through it.
func (s *slimSlice) DeepCopyObject() runtime.Object {
	c := *s
	c.eps = slices.Clone(s.eps)
	c.ports = slices.Clone(s.ports)
	c.raw = maps.Clone(s.raw)
	c.hints = maps.Clone(s.hints)
	return &c
}

// slimOf packs sl into a slimSlice; sl is read, not changed. The name,
// UID and resource version are packed into one allocation (pack), the
// namespace, address type, ports' pointers and node names shared through
// the interner.
func slimOf(sl *discoveryv1.EndpointSlice) *slimSlice {
	s := &slimSlice{
		slimMeta: slimMeta{
			Name: sl.Name, Namespace: tables.str(sl.Namespace), UID: sl.UID,
			ResourceVersion: sl.ResourceVersion, Generation: sl.Generation,
		},
		addressType: discoveryv1.AddressType(tables.str(string(sl.AddressType))),
	}
	pack(&s.Name, (*string)(&s.UID), &s.ResourceVersion)
	if v := sl.Labels[desired.ServiceNameLabel]; v != "" {
		if len(v) <= len(s.Name) && s.Name[:len(v)] == v {
			s.service = s.Name[:len(v)] // the slice's name starts with it: share its bytes
		} else {
			s.service = tables.str(v)
		}
	}
	if _, ok := sl.Labels[desired.HeadlessLabel]; ok {
		s.flags |= sliceHeadless
	}
	if v, ok := sl.Annotations[corev1.EndpointsLastChangeTriggerTime]; ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			s.trigger = t.UnixNano()
		}
	}
	if len(sl.Ports) > 0 {
		s.ports = make([]discoveryv1.EndpointPort, len(sl.Ports))
		copy(s.ports, sl.Ports)
		trimEndpointPorts(s.ports)
	}
	if len(sl.Endpoints) > 0 {
		s.eps = make([]slimEndpoint, len(sl.Endpoints))
	}
	var node *string // the last node name, shared by the endpoints that repeat it
	for i, ep := range sl.Endpoints {
		e := &s.eps[i]
		c := ep.Conditions
		e.cond = cond(c.Ready)<<readyShift | cond(c.Serving)<<servingShift | cond(c.Terminating)<<terminatingShift
		if nn := ep.NodeName; nn != nil {
			if node == nil || *node != *nn {
				node = tables.strPtr(nn)
			}
			e.node = node
		}
		if ep.Hints != nil {
			if s.hints == nil {
				s.hints = map[int32]*discoveryv1.EndpointHints{}
			}
			s.hints[int32(i)] = ep.Hints
		}
		if len(ep.Addresses) == 0 {
			continue
		}
		raw := ep.Addresses[0]
		a, err := netip.ParseAddr(raw)
		switch {
		case err == nil && a.Is4() && a.String() == raw:
			e.addr, e.kind = a.As16(), addrV4
		case err == nil && a.Is6() && a.Zone() == "" && a.String() == raw:
			e.addr, e.kind = a.As16(), addrV6
		default:
			if s.raw == nil {
				s.raw = map[int32]string{}
			}
			s.raw[int32(i)], e.kind = raw, addrRaw
		}
	}
	return s
}

func cond(b *bool) uint8 {
	switch {
	case b == nil:
		return condNil
	case *b:
		return condTrue
	}
	return condFalse
}

func condPtr(c uint8) *bool {
	switch c & 3 {
	case condTrue:
		return &trueValue
	case condFalse:
		return &falseValue
	}
	return nil
}

// expand builds the *discoveryv1.EndpointSlice that desired/ reads (see
// expandAll).
func (s *slimSlice) expand() *discoveryv1.EndpointSlice {
	out := &discoveryv1.EndpointSlice{}
	s.expandInto(out, s.labels())
	return out
}

// expandAll expands sls for desired/: the fields listed on slimSlice, each
// endpoint with its one address. It allocates per call one array of
// slices and one label map per distinct label set, and per slice its
// endpoints, their addresses (one array, their text in one buffer);
// what the results share with sls or each other (strings, ports, node
// names, hints, label maps) must not be written through.
func expandAll(sls []*slimSlice) []*discoveryv1.EndpointSlice {
	if len(sls) == 0 {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, len(sls))
	structs := make([]discoveryv1.EndpointSlice, len(sls))
	var labels map[string]string
	for i, s := range sls {
		if i == 0 || s.service != sls[i-1].service || s.flags != sls[i-1].flags {
			labels = s.labels()
		}
		s.expandInto(&structs[i], labels)
		out[i] = &structs[i]
	}
	return out
}

// labels are the slice's kept labels as the API has them (nil for none).
func (s *slimSlice) labels() map[string]string {
	if s.service == "" && s.flags&sliceHeadless == 0 {
		return nil
	}
	l := make(map[string]string, 2)
	if s.service != "" {
		l[desired.ServiceNameLabel] = s.service
	}
	if s.flags&sliceHeadless != 0 {
		l[desired.HeadlessLabel] = ""
	}
	return l
}

func (s *slimSlice) expandInto(out *discoveryv1.EndpointSlice, labels map[string]string) {
	*out = discoveryv1.EndpointSlice{
		ObjectMeta:  s.objectMeta(),
		AddressType: s.addressType,
		Ports:       s.ports,
	}
	out.Labels = labels
	if len(s.eps) == 0 {
		return
	}
	// The packed addresses' text, in one buffer: ends[i] is where endpoint
	// i's ends.
	buf := make([]byte, 0, 16*len(s.eps))
	ends := make([]int32, len(s.eps))
	for i, e := range s.eps {
		switch e.kind {
		case addrV4:
			buf = netip.AddrFrom16(e.addr).Unmap().AppendTo(buf)
		case addrV6:
			buf = netip.AddrFrom16(e.addr).AppendTo(buf)
		}
		ends[i] = int32(len(buf))
	}
	text := unsafe.String(unsafe.SliceData(buf), len(buf)) // buf is not written again
	out.Endpoints = make([]discoveryv1.Endpoint, len(s.eps))
	addrs := make([]string, len(s.eps))
	start := int32(0)
	for i, e := range s.eps {
		ep := &out.Endpoints[i]
		ep.Conditions = discoveryv1.EndpointConditions{
			Ready:       condPtr(e.cond >> readyShift),
			Serving:     condPtr(e.cond >> servingShift),
			Terminating: condPtr(e.cond >> terminatingShift),
		}
		ep.NodeName = e.node
		if s.hints != nil {
			ep.Hints = s.hints[int32(i)]
		}
		switch e.kind {
		case addrV4, addrV6:
			addrs[i] = text[start:ends[i]]
		case addrRaw:
			addrs[i] = s.raw[int32(i)]
		}
		start = ends[i]
		if e.kind != addrNone {
			ep.Addresses = addrs[i : i+1 : i+1]
		}
	}
}

// triggerTime is the slice's last-change trigger time, false when it has none.
func (s *slimSlice) triggerTime() (time.Time, bool) {
	if s.trigger == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.trigger), true
}

// owner is the Service the slice belongs to (its service-name label), and
// false when it names none.
func (s *slimSlice) owner() (types.NamespacedName, bool) {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.service}, s.service != ""
}

// ref is the slice's identity for fragCache: the cached object and its
// resource version.
func (s *slimSlice) ref() sliceRef { return sliceRef{s, s.ResourceVersion} }

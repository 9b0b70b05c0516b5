package desired

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpoint is one address:port of one Service port with its conditions and
// topology hints, as kube-proxy's EndpointSliceCache sees it.
type endpoint struct {
	addr     netip.Addr
	port     uint16
	nodeName string

	ready, serving, terminating bool
	// forZones and forNodes are the EndpointSlice hints (nil = no hint).
	forZones, forNodes []string

	slice string // the EndpointSlice it came from, to break ties
}

// servingTerminating is kube-proxy's fallback class: not ready, but still
// serving while it terminates.
func (e endpoint) servingTerminating() bool { return e.serving && e.terminating }

// endpointPicker reads the endpoints of one Service port from the Service's
// EndpointSlices and remembers bad endpoints to report once.
type endpointPicker struct {
	slices    []*discoveryv1.EndpointSlice
	proxyName string
	bad       map[string]struct{}
}

// pick returns every endpoint of the given family for sp, whatever its
// conditions, deduplicated by address and port and sorted by them. Endpoints
// are matched to sp by port name and protocol, so a named targetPort resolves
// to each endpoint's own port number. Like kube-proxy, only the first address
// of an endpoint is used, a missing serving condition reads as true, and of
// two copies of one address:port (a pod IP reused while the old pod
// terminates, or an endpoint moving between slices) a non-terminating copy
// wins over a terminating one whatever the slice order; for a tie we prefer
// ready, then serving, then the slice whose name sorts first.
func (p *endpointPicker) pick(v4 bool, sp corev1.ServicePort) []endpoint {
	want := discoveryv1.AddressTypeIPv6
	if v4 {
		want = discoveryv1.AddressTypeIPv4
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	n := 0
	for _, sl := range p.slices {
		if sl.AddressType == want {
			n += len(sl.Endpoints)
		}
	}
	out := make([]endpoint, 0, n) // one list, not a map of every address:port
	for _, sl := range p.slices {
		if sl.AddressType != want || !ProxiedSlice(sl) {
			continue
		}
		port, ok := slicePort(sl, sp.Name, proto)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			e, ok := p.endpoint(sl, ep, v4)
			if !ok {
				continue
			}
			e.port = port
			out = append(out, e)
		}
	}
	// Copies of one address:port end up adjacent and in slice order (a
	// stable sort): of each run keep the better, as one pass over the
	// slices comparing each copy with the best so far would.
	slices.SortStableFunc(out, func(a, b endpoint) int {
		return cmp.Or(a.addr.Compare(b.addr), cmp.Compare(a.port, b.port))
	})
	w := 0
	for _, e := range out {
		if w > 0 && out[w-1].addr == e.addr && out[w-1].port == e.port {
			if better(e, out[w-1]) {
				out[w-1] = e
			}
			continue
		}
		out[w] = e
		w++
	}
	clear(out[w:]) // drop the copies' strings
	out = out[:w]
	return out
}

// endpoint converts one slice endpoint; false when it has no usable address
// of the family (bad addresses are recorded for the error).
func (p *endpointPicker) endpoint(sl *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint, v4 bool) (endpoint, bool) {
	if len(ep.Addresses) == 0 {
		return endpoint{}, false
	}
	raw := ep.Addresses[0]
	a, err := netip.ParseAddr(raw)
	if err != nil || a.Zone() != "" {
		p.bad[fmt.Sprintf("EndpointSlice %s/%s: endpoint address %q is not an IP address", sl.Namespace, sl.Name, raw)] = struct{}{}
		return endpoint{}, false
	}
	a = a.Unmap()
	if a.Is4() != v4 {
		return endpoint{}, false // wrong family (an IPv4-mapped address is IPv4)
	}
	if why := unusableEndpoint(a); why != "" {
		p.bad[fmt.Sprintf("EndpointSlice %s/%s: endpoint address %s is %s", sl.Namespace, sl.Name, a, why)] = struct{}{}
		return endpoint{}, false
	}
	c := ep.Conditions
	e := endpoint{
		addr:        a,
		ready:       c.Ready == nil || *c.Ready,
		serving:     c.Serving == nil || *c.Serving,
		terminating: c.Terminating != nil && *c.Terminating,
		slice:       sl.Name,
	}
	if ep.NodeName != nil {
		e.nodeName = *ep.NodeName
	}
	if h := ep.Hints; h != nil {
		for _, z := range h.ForZones {
			e.forZones = append(e.forZones, z.Name)
		}
		for _, n := range h.ForNodes {
			e.forNodes = append(e.forNodes, n.Name)
		}
	}
	return e, true
}

// better tells whether copy a of an address:port replaces copy b.
func better(a, b endpoint) bool {
	rank := func(e endpoint) int {
		r := 0
		if !e.terminating {
			r += 4
		}
		if e.ready {
			r += 2
		}
		if e.serving {
			r++
		}
		return r
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra > rb
	}
	return a.slice < b.slice
}

func slicePort(sl *discoveryv1.EndpointSlice, name string, proto corev1.Protocol) (uint16, bool) {
	for _, p := range sl.Ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pn != name || pp != proto || p.Port == nil || *p.Port < 1 || *p.Port > 65535 {
			continue
		}
		return uint16(*p.Port), true
	}
	return 0, false
}

// err joins the bad endpoints seen, sorted, as one error about ref.
func (p *endpointPicker) err(ref string) error {
	if len(p.bad) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(p.bad))
	for m := range p.bad {
		msgs = append(msgs, m)
	}
	slices.Sort(msgs)
	return &ObjectError{Object: ref, Err: errors.New(strings.Join(msgs, "; ") + " (skipped)")}
}

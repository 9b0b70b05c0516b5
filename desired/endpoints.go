package desired

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

type endpoint struct {
	addr     netip.Addr
	port     uint16
	nodeName string
}

// endpointPicker chooses the real servers of one Service port from the
// Service's EndpointSlices and remembers bad endpoints to report once.
type endpointPicker struct {
	slices []*discoveryv1.EndpointSlice
	bad    map[string]struct{}
}

// picked is the ready and the serving-and-terminating endpoints of one
// Service port.
type picked struct{ ready, terminating []endpoint }

// all returns the ready endpoints or, when none is ready, the
// serving-and-terminating ones.
func (p picked) all() []endpoint {
	if len(p.ready) > 0 {
		return p.ready
	}
	return p.terminating
}

// local is all for the endpoints on node only: like kube-proxy, it falls back
// to the local serving-and-terminating endpoints when no local one is ready,
// whatever the other nodes have.
func (p picked) local(node string) []endpoint {
	if r := local(p.ready, node); len(r) > 0 {
		return r
	}
	return local(p.terminating, node)
}

// pick returns the endpoints of the given family for sp: the ready ones and
// the serving-and-terminating ones; deduplicated across slices and sorted.
// Endpoints are matched to sp by port name and protocol, so a named
// targetPort resolves to each endpoint's own port number.
func (p *endpointPicker) pick(v4 bool, sp corev1.ServicePort) picked {
	want := discoveryv1.AddressTypeIPv6
	if v4 {
		want = discoveryv1.AddressTypeIPv4
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	var ready, terminating []endpoint
	seen := map[endpoint]struct{}{}
	for _, sl := range p.slices {
		if sl.AddressType != want {
			continue
		}
		port, ok := slicePort(sl, sp.Name, proto)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			c := ep.Conditions
			isReady := c.Ready == nil || *c.Ready
			serving := isReady
			if c.Serving != nil {
				serving = *c.Serving
			}
			term := c.Terminating != nil && *c.Terminating
			if !isReady && !(serving && term) {
				continue
			}
			if len(ep.Addresses) == 0 {
				continue
			}
			// Like kube-proxy, only the first address of an endpoint is used.
			raw := ep.Addresses[0]
			a, err := netip.ParseAddr(raw)
			if err != nil || a.Zone() != "" {
				p.bad[fmt.Sprintf("EndpointSlice %s/%s: endpoint address %q is not an IP address", sl.Namespace, sl.Name, raw)] = struct{}{}
				continue
			}
			if a.Unmap().Is4() != v4 {
				continue // wrong family (an IPv4-mapped address is IPv4)
			}
			e := endpoint{addr: a.Unmap(), port: port}
			if _, dup := seen[e]; dup {
				continue
			}
			seen[e] = struct{}{}
			if ep.NodeName != nil {
				e.nodeName = *ep.NodeName
			}
			if isReady {
				ready = append(ready, e)
			} else {
				terminating = append(terminating, e)
			}
		}
	}
	byAddr := func(a, b endpoint) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	}
	slices.SortFunc(ready, byAddr)
	slices.SortFunc(terminating, byAddr)
	return picked{ready: ready, terminating: terminating}
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

func local(eps []endpoint, node string) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if e.nodeName == node {
			out = append(out, e)
		}
	}
	return out
}

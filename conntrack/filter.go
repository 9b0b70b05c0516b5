// Package conntrack deletes connection-tracking entries that point at what a
// sync removed, as kube-proxy's conntrack cleanup does, over netlink (no
// exec of conntrack(8)). For UDP and SCTP, which have no connection close
// that would end a flow, a stale entry keeps steering a client's packets to
// an endpoint or Service address that is gone, until it times out.
//
// ForPlan (pure) turns an applied state.Plan into Filters; Interface deletes
// the flows that match them; Netlink is the kernel implementation and Fake
// the in-memory one.
package conntrack

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Flow is a conntrack entry as the filters see it: the protocol, the
// original direction (client -> Service address) and the reply direction
// (after IPVS's NAT: endpoint -> client).
type Flow struct {
	Protocol         ipvs.Protocol
	OrigSrc, OrigDst netip.AddrPort
	ReplySrc         netip.AddrPort
	ReplyDst         netip.AddrPort
}

// String renders the flow like conntrack -L, shortened.
func (f Flow) String() string {
	return fmt.Sprintf("%s src=%s dst=%s reply-src=%s reply-dst=%s", f.Protocol, f.OrigSrc, f.OrigDst, f.ReplySrc, f.ReplyDst)
}

// Kind says which reply sources a Filter matches.
type Kind uint8

const (
	// ToEndpoint matches flows to the Service address NATed to one endpoint
	// (reply source = Endpoint): the endpoint was removed.
	ToEndpoint Kind = iota
	// Any matches every flow to the Service address: the virtual server was
	// removed (a Service deleted, its cluster IP or node port changed).
	Any
	// Untranslated matches flows to the Service address that were not NATed
	// (reply source = the Service address itself): they were tracked while
	// the virtual server had no real server, and would keep new packets from
	// reaching the endpoint that just appeared.
	Untranslated
)

// Filter selects flows of one protocol sent to one Service address
// (virtual server address and port).
type Filter struct {
	Kind     Kind
	Protocol ipvs.Protocol
	Service  netip.AddrPort
	Endpoint netip.AddrPort // ToEndpoint only
}

// Match tells whether f selects flow.
func (f Filter) Match(flow Flow) bool {
	if flow.Protocol != f.Protocol || flow.OrigDst != f.Service {
		return false
	}
	switch f.Kind {
	case ToEndpoint:
		return flow.ReplySrc == f.Endpoint
	case Untranslated:
		return flow.ReplySrc == f.Service
	}
	return true
}

// String renders the filter as a conntrack(8) command line would select it.
func (f Filter) String() string {
	s := fmt.Sprintf("-p %s --orig-dst %s --orig-port-dst %d", f.Protocol, f.Service.Addr(), f.Service.Port())
	switch f.Kind {
	case ToEndpoint:
		s += fmt.Sprintf(" --reply-src %s --reply-port-src %d", f.Endpoint.Addr(), f.Endpoint.Port())
	case Untranslated:
		s += fmt.Sprintf(" --reply-src %s --reply-port-src %d", f.Service.Addr(), f.Service.Port())
	}
	return s
}

// Is6 tells the family of the flows f selects.
func (f Filter) Is6() bool { return f.Service.Addr().Is6() }

// Needed tells whether flows of protocol p are cleaned up: UDP and SCTP.
// TCP flows end with the connection (and IPVS's expire_nodest_conn ends
// them when their real server goes).
func Needed(p ipvs.Protocol) bool { return p == ipvs.UDP || p == ipvs.SCTP }

// ForPlan returns the filters for what p (as applied) removed, UDP and SCTP
// only, sorted:
//
//   - a real server deleted: its flows through that virtual server (ToEndpoint);
//   - a virtual server deleted, which is how a changed cluster IP or node
//     port shows in a plan: every flow to it (Any);
//   - a real server added: flows to its virtual server that were never
//     NATed (Untranslated), as kube-proxy clears entries of a Service that
//     had no endpoint.
//
// Pass only the operations that succeeded (a real server still in the
// kernel keeps its flows).
func ForPlan(p state.Plan) []Filter {
	var out []Filter
	ap := func(k ipvs.Key) netip.AddrPort { return netip.AddrPortFrom(k.Address, k.Port) }
	for _, op := range p.DeleteRealServers {
		if Needed(op.Service.Protocol) {
			out = append(out, Filter{Kind: ToEndpoint, Protocol: op.Service.Protocol, Service: ap(op.Service),
				Endpoint: netip.AddrPortFrom(op.RealServer.Address, op.RealServer.Port)})
		}
	}
	for _, k := range p.DeleteServices {
		if Needed(k.Protocol) {
			out = append(out, Filter{Kind: Any, Protocol: k.Protocol, Service: ap(k)})
		}
	}
	added := map[ipvs.Key]bool{}
	for op := range p.AddRealServers.All() {
		if Needed(op.Service.Protocol) && !added[op.Service] {
			added[op.Service] = true
			out = append(out, Filter{Kind: Untranslated, Protocol: op.Service.Protocol, Service: ap(op.Service)})
		}
	}
	slices.SortFunc(out, compare)
	return slices.CompactFunc(out, func(a, b Filter) bool { return a == b })
}

func compare(a, b Filter) int {
	if a.Protocol != b.Protocol {
		return int(a.Protocol) - int(b.Protocol)
	}
	if c := a.Service.Compare(b.Service); c != 0 {
		return c
	}
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	return a.Endpoint.Compare(b.Endpoint)
}

// Interface deletes conntrack entries.
type Interface interface {
	// Delete removes every flow that matches any of filters (a dump of the
	// table per family that filters name, one delete per match) and
	// returns how many it removed. It goes on after a failed delete.
	Delete(filters []Filter) (int, error)
}

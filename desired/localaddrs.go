package desired

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// NodeAddrs are the node's own addresses as the desired state reads them.
type NodeAddrs struct {
	// NodePort are the addresses eligible for NodePorts (see
	// NodePortAddresses): NodePort virtual servers, NODE-PORT-LOCAL and
	// HEALTH-CHECK members, and the node-local source-range exception.
	NodePort []netip.Addr
	// Local are all the node's local addresses, whatever nodePortAddresses
	// says (see LocalAddresses): an external or load-balancer IP among them
	// (or among NodePort) is not bound on the dummy link and not in the
	// VIPs set, as in kube-proxy. nil is fine when NodePort holds them all.
	Local []netip.Addr
}

// isLocal tells whether a is one of the node's own addresses (on a link
// other than the dummy one).
func (n NodeAddrs) isLocal(a netip.Addr) bool {
	return slices.Contains(n.Local, a) || slices.Contains(n.NodePort, a)
}

// LocalAddresses returns the node addresses that kube-proxy's IPVS mode
// never binds on the dummy link (its nodeAddressSet, from
// GetAllLocalAddressesExcept): every local address but those on the dummy
// link, loopback ones and IPv6 link-local ones (IPv4 link-local ones stay),
// sorted, without duplicates. nodePortAddresses does not filter them.
func LocalAddresses(local []netif.Address, dummy string) []netip.Addr {
	out := make([]netip.Addr, 0, len(local))
	for _, a := range local {
		if a.Link != dummy {
			out = append(out, a.Addr)
		}
	}
	return FilterLocalAddresses(out)
}

// FilterLocalAddresses is LocalAddresses' filter on addresses without
// links (`plan` takes them from the Node object or --node-addresses).
func FilterLocalAddresses(in []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, a := range in {
		a = a.Unmap()
		if !a.IsValid() || a.IsLoopback() || (a.Is6() && a.IsLinkLocalUnicast()) {
			continue
		}
		out = append(out, a.WithZone(""))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// BindCandidates returns the addresses of svc that are bound on the dummy
// link unless they are node addresses: its external IPs and its
// load-balancer IPs (both families, unparsable ones skipped). A change of
// the node's local addresses touches only the Services holding one of the
// addresses that came or went.
func BindCandidates(svc *corev1.Service) []netip.Addr {
	bad := map[string]struct{}{}
	var out []netip.Addr
	for _, v4 := range []bool{true, false} {
		out = append(out, externalIPs(svc, v4, bad)...)
		out = append(out, loadBalancerIPs(svc, v4, bad)...)
	}
	return out
}

package desired

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// NodePortAddresses picks, from the node's local addresses, those that get
// NodePort virtual servers: every address except loopback, link-local and
// those on the dummy link, kept only if inside one of prefixes (when any are
// given). The result is sorted and free of duplicates.
func NodePortAddresses(local []netif.Address, dummy string, prefixes []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, a := range local {
		if a.Link == dummy {
			continue
		}
		out = append(out, a.Addr)
	}
	return FilterNodeAddresses(out, prefixes)
}

// FilterNodeAddresses drops loopback, link-local, unspecified and multicast
// addresses and those outside prefixes (when any are given); sorts and dedups.
func FilterNodeAddresses(in []netip.Addr, prefixes []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, a := range in {
		a = a.Unmap()
		if !a.IsValid() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) }) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// NodeObjectAddresses returns a Node's InternalIP and ExternalIP addresses
// (used by `plan`, which has no kernel to ask); unparsable ones are skipped.
func NodeObjectAddresses(node *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

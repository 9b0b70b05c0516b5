package desired

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
)

// NodePortAddresses picks, from the node's local addresses, those that get
// NodePort virtual servers: every address except loopback, link-local and
// those on the dummy link, kept only if inside one of prefixes of its family
// (when any are given for that family; see FilterNodeAddresses). The result
// is sorted and free of duplicates.
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
// addresses and those outside prefixes; sorts and dedups. Like kube-proxy's
// nodePortAddresses, prefixes restrict only their own family: a family none
// of them covers keeps all its addresses.
func FilterNodeAddresses(in []netip.Addr, prefixes []netip.Prefix) []netip.Addr {
	var has4, has6 bool
	for _, p := range prefixes {
		if p.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	var out []netip.Addr
	for _, a := range in {
		a = a.Unmap()
		if !a.IsValid() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() || a == broadcast4 {
			continue
		}
		restricted := (a.Is4() && has4) || (a.Is6() && has6)
		if restricted && !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) }) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// NodePortPrefixes returns the prefixes of a nodePortAddresses list, the
// keyword "primary" standing for the node's primary IPs (see PrimaryNodeIPs)
// as single-address prefixes; CIDRs that do not parse are skipped (Validate
// reports them).
func NodePortPrefixes(list []string, primary []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if s == v1alpha1.NodePortAddressesPrimary {
			for _, a := range primary {
				if a = a.Unmap(); !a.IsLoopback() {
					out = append(out, netip.PrefixFrom(a, a.BitLen()))
				}
			}
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// PrimaryNodeIPs returns a Node's primary IP and, when it has one, its
// first IP of the other family, InternalIPs before ExternalIPs (kube-proxy's
// node IPs, which its "primary" nodePortAddresses keyword stands for).
func PrimaryNodeIPs(node *corev1.Node) []netip.Addr {
	if node == nil {
		return nil
	}
	var all []netip.Addr
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range node.Status.Addresses {
			if a.Type != t {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				all = append(all, ip.Unmap())
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	out := all[:1:1]
	for _, a := range all[1:] {
		if a.Is4() != out[0].Is4() {
			return append(out, a)
		}
	}
	return out
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

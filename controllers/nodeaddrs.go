package controllers

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// readNodeAddrs lists the node's addresses (one dump) and records both views
// the desired state reads (desired.NodeAddrs): the NodePort-eligible ones
// (nodePortAddresses) and all the local ones (kube-proxy's nodeAddressSet,
// which decides what is bound on the dummy link). It reports whether the
// NodePort ones changed: the rules and host settings follow those.
func (r *Reconciler) readNodeAddrs() (bool, error) {
	local, err := r.k.Links.LocalAddresses(r.cfg.DummyInterface)
	if err != nil {
		return false, fmt.Errorf("list node addresses: %w", err)
	}
	changed := r.setNodeAddrs(desired.NodePortAddresses(local, r.cfg.DummyInterface,
		desired.NodePortPrefixes(r.cfg.NodePortAddresses, desired.PrimaryNodeIPs(r.node))))
	r.setLocalAddrs(desired.LocalAddresses(local, r.cfg.DummyInterface))
	return changed, nil
}

// nodeAddrsOf is what ForServiceOn gets of the node's addresses.
func (r *Reconciler) nodeAddrsOf() desired.NodeAddrs {
	return desired.NodeAddrs{NodePort: r.nodeAddrs, Local: r.localAddrs}
}

// setLocalAddrs records the node's local addresses. A change makes stale
// only the fragments of Services with an external or load-balancer IP
// among the addresses that came or went (whether it is bound depends on
// them); the others do not read these addresses.
func (r *Reconciler) setLocalAddrs(addrs []netip.Addr) {
	if slices.Equal(addrs, r.localAddrs) {
		return
	}
	moved := map[netip.Addr]struct{}{}
	for _, a := range addrs {
		if _, ok := slices.BinarySearchFunc(r.localAddrs, a, netip.Addr.Compare); !ok {
			moved[a] = struct{}{}
		}
	}
	for _, a := range r.localAddrs {
		if _, ok := slices.BinarySearchFunc(addrs, a, netip.Addr.Compare); !ok {
			moved[a] = struct{}{}
		}
	}
	r.localAddrs = addrs
	r.frags.invalidateIf(func(svc *slimService) bool {
		// Most Services have no such IP: they are not expanded.
		return svc.mayBind() && slices.ContainsFunc(desired.BindCandidates(svc.expand()), func(a netip.Addr) bool {
			_, ok := moved[a]
			return ok
		})
	})
}

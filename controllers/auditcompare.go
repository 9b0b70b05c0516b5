package controllers

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// The host step's addresses and the virtual-server list are compared off
// the loop, as a set's members are (readSet, audit.go): the step that
// starts the read copies what the compare needs (the cached addresses; the
// cached virtual servers, without their real servers), the read lists the
// kernel and compares, and the loop is handed only the differences. Each
// difference is checked again on the loop against the cache as it is then
// (an apply or a full sync may have changed it since the copy), and what an
// apply changed during the read is left to the cache (touch, auditread.go).
//
// Neither compare looks ownership up for what the cache holds: the cache
// holds only ours. A virtual server is in it because we made it after its
// ledger member (the plan's dependencies) or read it as ours (the ledger,
// at a full sync or in this audit), and its member is deleted only after
// it; an address likewise (its member goes last, see lastRecord in
// apply.go). So ownership is asked only of what the kernel has and the
// cache does not know: rare (drift, a takeover's leftovers, a stranger's
// virtual servers), and then on the loop, which may read the ledger.

// addrDiff is how the dummy link's addresses and the cached ones differ.
type addrDiff struct {
	kernelOnly, cacheOnly []netip.Addr
}

// readAddresses notes the cached addresses (on the loop) and starts noting
// the addresses applies change; the returned compare runs with the read.
func (r *Reconciler) readAddresses() func(link []netip.Addr) addrDiff {
	r.audit.touchedAddrs = map[netip.Addr]struct{}{}
	cached := make([]netip.Addr, 0, len(r.cache.Addresses))
	for a := range r.cache.Addresses {
		cached = append(cached, a)
	}
	return func(link []netip.Addr) addrDiff { return diffAddresses(link, cached) }
}

// diffAddresses compares the link's addresses with the cached ones.
func diffAddresses(link, cached []netip.Addr) addrDiff {
	var d addrDiff
	d.kernelOnly, d.cacheOnly = twoWay(link, cached)
	return d
}

// twoWay returns what only left holds, in left's order, and what only
// right holds, in right's order (the audit's compares of a kernel read
// with the cache's copy).
func twoWay[T comparable](left, right []T) (leftOnly, rightOnly []T) {
	have := make(map[T]struct{}, len(right))
	for _, x := range right {
		have[x] = struct{}{}
	}
	for _, x := range left {
		if _, ok := have[x]; ok {
			delete(have, x)
			continue
		}
		leftOnly = append(leftOnly, x)
	}
	for _, x := range right {
		if _, ok := have[x]; ok {
			rightOnly = append(rightOnly, x)
		}
	}
	return leftOnly, rightOnly
}

// servicesDiff is how the listed virtual servers and the cached ones
// differ, with the keys for the real-server steps.
type servicesDiff struct {
	changed   []ipvs.VirtualServer // listed and cached, the fields differ (the listed ones)
	unknown   []ipvs.VirtualServer // listed, not cached: ours only if the ledger records them
	cacheOnly []ipvs.Key           // cached, not listed
	known     []ipvs.Key           // listed and cached, in the kernel's order
	queued    map[ipvs.Key]struct{}
}

// readServices notes the cached virtual servers (on the loop: one copy of
// each, no real servers) and starts noting those applies change; it
// returns the read, which lists the virtual servers and compares them.
func (r *Reconciler) readServices() func() (any, error) {
	r.audit.touchedKeys = map[ipvs.Key]struct{}{}
	cached := make([]ipvs.VirtualServer, 0, len(r.cache.Services))
	for _, s := range r.cache.Services {
		cached = append(cached, s.VirtualServer)
	}
	return func() (any, error) {
		vss, err := r.k.IPVS.Services()
		if err != nil {
			return servicesDiff{}, err
		}
		return diffServices(vss, cached), nil
	}
}

// diffServices compares the listed virtual servers with the cached ones.
func diffServices(listed, cached []ipvs.VirtualServer) servicesDiff {
	have := make(map[ipvs.Key]ipvs.VirtualServer, len(cached))
	for _, vs := range cached {
		have[vs.Key] = vs
	}
	d := servicesDiff{known: make([]ipvs.Key, 0, len(cached)), queued: make(map[ipvs.Key]struct{}, len(cached))}
	for _, vs := range listed {
		c, ok := have[vs.Key]
		if !ok {
			d.unknown = append(d.unknown, vs)
			continue
		}
		delete(have, vs.Key)
		d.known = append(d.known, vs.Key)
		d.queued[vs.Key] = struct{}{}
		if c != vs {
			d.changed = append(d.changed, vs)
		}
	}
	for _, vs := range cached { // in the copy's order
		if _, ok := have[vs.Key]; ok {
			d.cacheOnly = append(d.cacheOnly, vs.Key)
		}
	}
	return d
}

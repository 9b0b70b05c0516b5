package controllers

import "github.com/ipvs-proxy/ipvs-proxy/metrics"

// countOwned sets ipvs_proxy_owned_objects from the reconciler's cache of
// what it owns. Map sizes are O(1); real servers are counted on full syncs
// and adjusted by the plan in between (so an incremental sync stays
// O(changed)); it returns the real-server count to carry over.
func countOwned(m *metrics.Metrics, r *Reconciler, full bool, res Result, realServers int) int {
	c := &r.cache
	if full {
		realServers = 0
		for _, svc := range c.Services {
			realServers += svc.RealServers.Len()
		}
	} else {
		realServers = max(0, realServers+res.Plan.AddRealServers.Len()-len(res.Plan.DeleteRealServers))
	}
	m.Owned(metrics.VirtualServers, len(c.Services))
	m.Owned(metrics.RealServers, realServers)
	m.Owned(metrics.Addresses, len(c.Addresses))
	m.Owned(metrics.SetMembers, c.Members.Len())
	return realServers
}

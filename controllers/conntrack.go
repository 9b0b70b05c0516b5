package controllers

import (
	"context"

	"github.com/go-logr/logr"

	"github.com/ipvs-proxy/ipvs-proxy/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// cleanConntrack deletes the UDP and SCTP conntrack entries that point at
// what p removed (see conntrack.ForPlan), after apply. Only the operations
// that took effect count: the cache follows each success, so an op whose
// outcome the cache does not show failed and is left for the retry. The
// cleanup is best effort, as kube-proxy's: a failure is logged here (not
// returned, a full resync would not redo it) and the flows time out.
func (r *Reconciler) cleanConntrack(ctx context.Context, p state.Plan) {
	if r.k.Conntrack == nil {
		return
	}
	filters := conntrack.ForPlan(r.applied(p))
	if len(filters) == 0 {
		return
	}
	log := logr.FromContextOrDiscard(ctx)
	n, err := r.k.Conntrack.Delete(filters)
	if err != nil {
		log.Error(err, "conntrack cleanup failed; stale flows will time out", "filters", len(filters), "deleted", n)
		return
	}
	log.V(2).Info("conntrack entries deleted", "filters", len(filters), "deleted", n)
}

// applied returns the part of p's removals and real-server additions that
// the cache shows as done, for conntrack.ForPlan.
func (r *Reconciler) applied(p state.Plan) state.Plan {
	var out state.Plan
	c := r.cache
	for _, op := range p.DeleteRealServers {
		if !conntrack.Needed(op.Service.Protocol) {
			continue
		}
		if svc := c.Services[op.Service]; svc == nil || !hasRealServer(svc, op) {
			out.DeleteRealServers = append(out.DeleteRealServers, op)
		}
	}
	for _, k := range p.DeleteServices {
		if _, ok := c.Services[k]; !ok && conntrack.Needed(k.Protocol) {
			out.DeleteServices = append(out.DeleteServices, k)
		}
	}
	for op := range p.AddRealServers.All() {
		if svc := c.Services[op.Service]; svc != nil && conntrack.Needed(op.Service.Protocol) && hasRealServer(svc, op) {
			out.AddRealServers.Append(op)
		}
	}
	return out
}

func hasRealServer(svc *state.Service, op state.RealServerOp) bool {
	return svc.RealServers.Has(op.RealServer.RealServerKey)
}

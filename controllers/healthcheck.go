package controllers

import (
	"context"
	"net/netip"
	"slices"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
)

// EnableHealthChecks makes the Controller run kube-proxy's per-Service
// health-check servers (LoadBalancer Services with externalTrafficPolicy
// Local) through m, kept in step after every sync. Call before Run.
func (c *Controller) EnableHealthChecks(m *healthcheck.Manager) { c.hc = m }

// syncHealthChecks brings the health-check servers in step with the sync
// that just ran: after a full sync every Service is looked at (and the
// servers listen on the node addresses it found), after an incremental one
// only the named Services. Errors (a port taken by someone else) are logged
// here, once, and retried on the next full sync.
func (c *Controller) syncHealthChecks(ctx context.Context, full bool, names []types.NamespacedName) {
	if c.hc == nil || c.src == nil {
		return
	}
	var err error
	if full {
		want := map[types.NamespacedName]healthcheck.Service{}
		for _, svc := range c.src.Services() {
			n := svc.name()
			if s, ok := c.healthCheckOf(n); ok {
				want[n] = s
			}
		}
		err = c.hc.Sync(want, c.rec.NodeAddresses())
	} else {
		changes := map[types.NamespacedName]*healthcheck.Service{}
		for _, n := range names {
			changes[n] = nil
			if s, ok := c.healthCheckOf(n); ok {
				changes[n] = &s
			}
		}
		err = c.hc.Update(changes)
	}
	if err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "health check servers")
	}
}

func (c *Controller) healthCheckOf(n types.NamespacedName) (healthcheck.Service, bool) {
	slim, ok := c.src.Service(n)
	// Most Services have no health check: they are not expanded, nor
	// their slices (slimservice.go, slimslice.go).
	if !ok || !slim.mayHealthCheck() {
		return healthcheck.Service{}, false
	}
	svc := slim.expand()
	if _, _, ok := desired.HealthCheck(svc, nil, c.cfg.NodeName, c.cfg.ServiceProxyName); !ok {
		return healthcheck.Service{}, false
	}
	port, local, ok := desired.HealthCheck(svc, c.src.Slices(n), c.cfg.NodeName, c.cfg.ServiceProxyName)
	return healthcheck.Service{Port: port, LocalEndpoints: local}, ok
}

// NodeAddresses returns the node addresses the last full sync found (those
// eligible for node ports), where health checks listen too.
func (r *Reconciler) NodeAddresses() []netip.Addr { return slices.Clone(r.nodeAddrs) }

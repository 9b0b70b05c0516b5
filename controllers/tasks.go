package controllers

import (
	"context"
	"time"

	"github.com/go-logr/logr"
)

// auditStepEvery is the interval between two steps of the rolling audit: a
// round of AuditPeriod takes AuditPeriod/auditStepEvery steps, each reading
// an equal share of our virtual servers.
const auditStepEvery = time.Second

// tasks are the Runner's periodic work after the first full sync: a refresh
// every SyncPeriod (only Services whose objects changed are recomputed) and,
// unless AuditPeriod is 0, a rolling audit step every auditStepEvery.
func (c *Controller) tasks() []Task {
	ts := []Task{{Name: "refresh", Every: c.cfg.SyncPeriod, Run: c.refresh}}
	if c.cfg.AuditPeriod > 0 {
		ts = append(ts, Task{Name: "audit", Every: min(auditStepEvery, c.cfg.AuditPeriod), Run: c.auditStep})
	}
	return ts
}

// slowStep is how long a periodic step may take before it is logged (V(1)):
// changes wait behind it.
const slowStep = 100 * time.Millisecond

// refreshStepServices bounds the Services one refresh step looks at.
const refreshStepServices = 1000

func (c *Controller) refresh(ctx context.Context) (bool, error) {
	log := logr.FromContextOrDiscard(ctx)
	start := time.Now()
	res, more, err := c.rec.RefreshStep(ctx, c.src, refreshStepServices)
	elapsed := time.Since(start)
	if err != nil || !more {
		c.status.record(c.rec, false, nil, res, elapsed, err)
	}
	if err != nil {
		log.Error(err, "refresh failed; retrying with a full sync", "changes", res.Plan.Len(), "elapsed", elapsed)
	} else if res.Plan.Len() > 0 || len(res.Problems) > 0 {
		log.V(1).Info("refreshed", "services", len(res.Problems), "changes", res.Plan.Len(), "elapsed", elapsed)
	} else if elapsed > slowStep {
		log.V(1).Info("slow refresh step", "elapsed", elapsed)
	}
	c.report(ctx, res.Problems)
	return more, err
}

// auditStep runs one step of the rolling audit; a round that finished early
// waits for the rest of its AuditPeriod before the next one starts.
func (c *Controller) auditStep(ctx context.Context) (bool, error) {
	log := logr.FromContextOrDiscard(ctx)
	now := c.clock().Now()
	if now.Before(c.auditNext) {
		return false, nil
	}
	if c.auditStart.IsZero() {
		c.auditStart = now
	}
	steps := int(c.cfg.AuditPeriod / auditStepEvery)
	start := time.Now()
	phase := c.rec.audit.phase
	res, done, err := c.rec.AuditStep(ctx, steps)
	if elapsed := time.Since(start); elapsed > slowStep {
		log.V(1).Info("slow audit step", "phase", phase, "elapsed", elapsed)
	}
	c.status.recordAudit(res.Drift, res.Plan.Len())
	if err != nil {
		log.Error(err, "audit failed; retrying with a full sync", "drift", res.Drift, "repairs", res.Plan.Len())
		c.auditStart = time.Time{}
	} else if res.Drift > 0 {
		log.Info("audit repaired drift", "drift", res.Drift, "repairs", res.Plan.Len())
	}
	c.report(ctx, res.Problems)
	if done {
		c.auditNext = c.auditStart.Add(c.cfg.AuditPeriod)
		c.auditStart = time.Time{}
	}
	return false, err
}

func (c *Controller) clock() Clock {
	if c.runner.Clock != nil {
		return c.runner.Clock
	}
	return realClock{}
}

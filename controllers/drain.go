package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/drain"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// drainer is the Reconciler's graceful termination (see package drain): the
// Tracker of draining real servers, the counts the last full sync's dump
// read, and the clock. Used from the Runner's goroutine only, except
// Draining.
type drainer struct {
	tracker  *drain.Tracker
	bound    time.Duration // 0: drain until no connection is left
	now      func() time.Time
	conns    map[ipvs.Key]map[ipvs.RealServerKey]ipvs.Conns // from the last full sync's dump
	draining atomic.Int64                                   // tracker.Len(), for other goroutines
}

func newDrainer(bound time.Duration) *drainer {
	return &drainer{tracker: drain.NewTracker(), bound: bound, now: time.Now}
}

// observed is called by observe: reset (s == nil) or record one of our
// virtual servers' counts.
func (d *drainer) observed(s *ipvs.Service) {
	if s == nil {
		d.conns = map[ipvs.Key]map[ipvs.RealServerKey]ipvs.Conns{}
		return
	}
	if len(s.Conns) > 0 {
		d.conns[s.Key] = s.Conns
	}
}

// drainPlan rewrites a Diff's plan for graceful termination (drain.Apply).
// A full sync knows every count from its dump, so it deletes drained
// servers at once, which makes it a drain check too. An incremental sync
// reads the counts of the virtual servers where it would delete a TCP real
// server that is not draining yet, one destination dump each (O(changed),
// nothing when no TCP real server goes): a server without connections is
// deleted at once, one with connections drains. If a dump fails, its
// servers drain and the next check decides.
func (r *Reconciler) drainPlan(p state.Plan, full bool) state.Plan {
	d := r.drain
	seen := d.conns // full: every virtual server of ours was dumped
	d.conns = nil
	var read map[ipvs.Key]bool // incremental: the virtual servers read here
	if !full {
		seen, read = map[ipvs.Key]map[ipvs.RealServerKey]ipvs.Conns{}, map[ipvs.Key]bool{}
		for _, op := range p.DeleteRealServers {
			k := op.Service
			if read[k] || !drain.Needed(k.Protocol) {
				continue
			}
			if _, draining := d.tracker.Since(k, op.RealServer.RealServerKey); draining {
				continue
			}
			_, conns, err := r.k.IPVS.RealServers(k)
			if err != nil {
				continue // unknown: drain
			}
			read[k], seen[k] = true, conns
		}
	}
	known := func(k ipvs.Key, rk ipvs.RealServerKey) (ipvs.Conns, bool) { return seen[k][rk], full || read[k] }
	out := drain.Apply(p, d.tracker, d.now(), d.bound, known)
	d.draining.Store(int64(d.tracker.Len()))
	return out
}

// Draining is the number of real servers waiting for their connections to
// end; safe from any goroutine. The Controller checks only while it is
// not zero, so nothing is polled while nothing drains.
func (r *Reconciler) Draining() int { return int(r.drain.draining.Load()) }

// CheckDrains reads the draining real servers' counts, one destination dump
// per virtual server that has any (never the whole table), and deletes
// those whose connections have ended or whose bound has passed.
func (r *Reconciler) CheckDrains(ctx context.Context) (Result, error) {
	d := r.drain
	res := Result{Problems: map[types.NamespacedName][]string{}}
	var errs []error
	for _, k := range d.tracker.Services() {
		rss, conns, err := r.k.IPVS.RealServers(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("drain check: %w", err))
			continue
		}
		res.Plan.DeleteRealServers = append(res.Plan.DeleteRealServers, drain.Check(d.tracker, k, rss, conns, d.now(), d.bound)...)
	}
	d.draining.Store(int64(d.tracker.Len()))
	if !res.Plan.Empty() {
		logr.FromContextOrDiscard(ctx).V(1).Info("drained real servers deleted", "count", len(res.Plan.DeleteRealServers), "draining", d.tracker.Len())
		errs = append(errs, r.apply(ctx, res.Plan, &res))
	}
	return res, errors.Join(errs...)
}

// drainTicker asks the Runner for a drain check every period while
// anything drains; while nothing does, a tick costs one atomic load.
func (c *Controller) drainTicker(ctx context.Context, period time.Duration) {
	if period <= 0 {
		period = v1alpha1.DefaultDrainCheckPeriod
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c.rec.Draining() > 0 {
				c.runner.Request() // a sync with nothing pending checks drains
			}
		}
	}
}

// checkDrains is the Controller's sync when nothing is pending: a drain
// check if anything drains (the drainTicker's request), else nothing.
func (c *Controller) checkDrains(ctx context.Context) error {
	if c.rec.Draining() == 0 {
		return nil
	}
	res, err := c.rec.CheckDrains(ctx)
	if err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "drain check failed; retrying with a full sync", "changes", res.Plan.Len())
	}
	return err
}

package controllers

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
)

// Controller watches Services, EndpointSlices and this node's Node, maps every
// event onto one pending set and one Runner, and reports per-Service problems
// as Events.
type Controller struct {
	api    API
	cfg    v1alpha1.Config
	rec    *Reconciler
	runner *Runner
	events record.EventRecorder
	src    Source
	nodes  cache.Store // this node's Node (one object at most)
	status *Status
	hc     *healthcheck.Manager // nil: no health-check servers (see healthcheck.go)
	// collected: the first full sync's garbage was collected (sync).
	collected bool

	// retries backs off the incremental retries of failed Services; after
	// schedules them (time.AfterFunc; tests inject their own clock).
	retries *backoff
	after   func(time.Duration, func())

	mu          sync.Mutex
	pending     map[types.NamespacedName]struct{}
	refreshNext bool
	reported    map[types.NamespacedName]string // last Event message per Service

	// The rolling audit's pace, used only by the Runner's goroutine.
	auditStart, auditNext time.Time
}

// NewController wires a Reconciler to the API server.
func NewController(api API, rec *Reconciler, cfg v1alpha1.Config, events record.EventRecorder) *Controller {
	c := &Controller{
		api:      api,
		cfg:      cfg,
		rec:      rec,
		events:   events,
		status:   NewStatus(nil, 2*cfg.SyncPeriod, nil),
		pending:  map[types.NamespacedName]struct{}{},
		reported: map[types.NamespacedName]string{},
	}
	// One full sync at start (and after failures); periodic work is
	// bounded Tasks, so changes never wait behind a resync.
	c.runner = NewRunner(cfg.MinSyncPeriod, 0, c.sync)
	c.runner.Tasks = c.tasks()
	c.retries = newBackoff(max(cfg.MinSyncPeriod, 500*time.Millisecond), c.runner.MaxBackoff)
	c.after = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	return c
}

// Status is what the last syncs did, for /healthz and /metrics.
func (c *Controller) Status() *Status { return c.status }

// Run starts the informers, waits for their caches, then syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	svcInf := informer(c.api, "services", &corev1.Service{},
		func(o *metav1.ListOptions) { o.LabelSelector = proxiedSelector(c.cfg.ServiceProxyName) })
	sliceInf := sliceInformer(c.api) // informers.go
	sliceIdx := newSliceIndex()      // sliceindex.go
	mark := c.mark
	if _, err := svcInf.AddEventHandler(handler(mark)); err != nil {
		return fmt.Errorf("watch Services: %w", err)
	}
	sliceReg, err := sliceInf.AddEventHandler(sliceIdx.handler(mark))
	if err != nil {
		return fmt.Errorf("watch EndpointSlices: %w", err)
	}
	nodeInf := informer(c.api, "nodes", &corev1.Node{}, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", c.cfg.NodeName).String()
	})
	// A change to this node (addresses, labels) asks for a refresh, which
	// re-reads the node's addresses and recomputes everything they change.
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.requestRefresh() },
		UpdateFunc: func(any, any) { c.requestRefresh() },
		DeleteFunc: func(any) { c.requestRefresh() },
	}); err != nil {
		return fmt.Errorf("watch Node %s: %w", c.cfg.NodeName, err)
	}
	c.src = cacheSource{services: svcInf.GetStore(), slices: sliceIdx} // slimServices: no typed lister
	c.nodes = nodeInf.GetStore()
	// Health and metrics (status.go): change counters, queued updates, this Node.
	ws, err := c.status.watch(svcInf, sliceInf, nodeInf, c.cfg.NodeName)
	if err != nil {
		return err
	}

	// The informers stop with ctx; Run returns once they have.
	var informers sync.WaitGroup
	defer informers.Wait()
	for _, inf := range []cache.SharedIndexInformer{svcInf, sliceInf, nodeInf} {
		informers.Go(func() { inf.RunWithContext(ctx) })
	}
	for _, w := range ws {
		if w.inf == sliceInf {
			w.handler = sliceReg // syncs read the index it keeps
		}
	}
	if !c.status.waitForCaches(ctx, ws) {
		return nil // stopped (SIGTERM) before the caches synced: a clean exit
	}
	go c.drainTicker(ctx, c.cfg.DrainCheckPeriod)
	c.runner.Run(ctx)
	return nil
}

// node returns this node's Node from the informer cache, or nil.
func (c *Controller) node() *corev1.Node {
	if c.nodes == nil {
		return nil
	}
	obj, ok, err := c.nodes.GetByKey(c.cfg.NodeName)
	if err != nil || !ok {
		return nil
	}
	n, _ := obj.(*corev1.Node)
	return n
}

// mark asks for an incremental sync of Service n.
func (c *Controller) mark(n types.NamespacedName) {
	c.mu.Lock()
	c.pending[n] = struct{}{}
	c.mu.Unlock()
	c.runner.Request()
}

func (c *Controller) requestRefresh() {
	c.mu.Lock()
	c.refreshNext = true
	c.mu.Unlock()
	c.runner.Request()
}

// sync is the Runner's sync function: take the pending Services, run a full or
// incremental sync, log the outcome once and report problems as Events.
func (c *Controller) sync(ctx context.Context, full bool) error {
	log := logr.FromContextOrDiscard(ctx)
	c.mu.Lock()
	names := make([]types.NamespacedName, 0, len(c.pending))
	for n := range c.pending {
		names = append(names, n)
	}
	clear(c.pending)
	full = full || !c.rec.Synced()
	refresh := c.refreshNext && !full
	c.refreshNext = false
	c.mu.Unlock()
	if !full && !refresh && len(names) == 0 {
		return c.checkDrains(ctx)
	}

	start := time.Now()
	var res Result
	var err error
	c.rec.SetNode(c.node()) // a changed Node makes every fragment stale
	switch {
	case full:
		res, err = c.rec.Full(ctx, c.src)
	case refresh:
		res, err = c.rec.Refresh(ctx, c.src, names)
	default:
		res, err = c.rec.Incremental(ctx, c.src, names)
	}
	elapsed := time.Since(start)
	c.status.record(c.rec, full, names, res, elapsed, err)
	if err != nil {
		log.Error(err, "sync failed; retrying with a full sync", "full", full, "services", len(names), "changes", res.Plan.Len(), "elapsed", elapsed)
	} else {
		log.V(1).Info("synced", "full", full, "services", len(names), "changes", res.Plan.Len(), "elapsed", elapsed)
	}
	if len(res.Failed) > 0 {
		log.Info("kernel refused some objects; their Services are retried with backoff",
			"failed", len(res.Failed), "skipped", res.Skipped, "retry", len(res.Retry), "errors", errorList(res.Failed, 5))
	}
	if res.Repaired > 0 {
		log.Info("ownership ledger was lost; re-adopted virtual servers in place", "readopted", res.Repaired)
	}
	if res.TakeOver != nil {
		logTakeOver(log, res.TakeOver)
	}
	c.report(ctx, res.Problems)
	c.syncHealthChecks(ctx, full, names)
	c.forget(full, err, names, res.Problems)
	c.retryFailed(full, err, names, res.Retry)
	c.status.problems(len(c.reported))
	if full && err == nil && !c.collected {
		// The first full sync's garbage (the informers' first lists, a
		// plan of every object) is the largest of the process's life:
		// collected at once, before changes are served, and its pages given
		// back, rather than left to slow the first changes and to stay in
		// the RSS.
		c.collected = true
		debug.FreeOSMemory()
	}
	return err
}

// retryFailed schedules an incremental sync of each Service in retry after
// its backoff, and clears the backoff of those that synced cleanly. Unowned
// stands for stale objects; an incremental sync of it retries them.
func (c *Controller) retryFailed(full bool, err error, names, retry []types.NamespacedName) {
	if err == nil {
		for n := range c.retries.failures {
			if !slices.Contains(retry, n) && (full || slices.Contains(names, n)) {
				c.retries.forget(n)
			}
		}
	}
	for _, n := range retry {
		c.after(c.retries.failed(n), func() { c.mark(n) })
	}
}

// errorList renders at most n errors, for one log line.
func errorList(errs []error, n int) []string {
	out := make([]string, 0, min(n, len(errs)))
	for _, e := range errs[:min(n, len(errs))] {
		out = append(out, e.Error())
	}
	return out
}

// forget drops what was reported about Services that no longer exist, so a
// Service created again with the same problem gets its Event again (and the
// map does not grow with every deleted Service): the names an incremental
// sync found deleted, and after a successful full sync every Service it did
// not see.
func (c *Controller) forget(full bool, err error, names []types.NamespacedName, problems map[types.NamespacedName][]string) {
	if full {
		if err != nil && len(problems) == 0 {
			return // failed before looking at the Services
		}
		for n := range c.reported {
			if _, ok := problems[n]; !ok {
				delete(c.reported, n)
			}
		}
		return
	}
	for _, n := range names {
		if _, ok := problems[n]; !ok {
			delete(c.reported, n)
		}
	}
}

// report records a Warning Event on each Service whose problems changed.
func (c *Controller) report(ctx context.Context, problems map[types.NamespacedName][]string) {
	log := logr.FromContextOrDiscard(ctx)
	for n, msgs := range problems {
		msg := strings.Join(msgs, "; ")
		if c.reported[n] == msg {
			continue
		}
		if msg == "" {
			delete(c.reported, n)
			continue
		}
		c.reported[n] = msg
		log.Info("service has problems", "service", n.String(), "problem", msg)
		if c.events == nil {
			continue
		}
		if svc, ok := c.src.Service(n); ok {
			c.events.Event(svc.expand(), corev1.EventTypeWarning, "SyncProblem", msg) // the recorder asks for a registered type
		}
	}
}

// proxiedSelector is kube-proxy's (v1.37) Service informer filter as a
// label selector: Services labelled service.kubernetes.io/service-proxy-name
// are not watched at all (a label added later reads as a delete). With a
// serviceProxyName of our own the Services labelled with it must be watched
// too, which one selector cannot say, so nothing is filtered here and
// desired.ProxiedService decides alone.
func proxiedSelector(proxyName string) string {
	if proxyName != "" {
		return ""
	}
	return "!" + desired.ProxyNameLabel
}

// sliceSelector is kube-proxy's EndpointSlice informer filter: slices
// labelled service.kubernetes.io/headless are not watched
// (desired.ProxiedSlice).
const sliceSelector = "!" + desired.HeadlessLabel

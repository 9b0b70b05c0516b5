package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

// Controller watches Services, EndpointSlices and this node's Node, maps every
// event onto one pending set and one Runner, and reports per-Service problems
// as Events.
type Controller struct {
	client kubernetes.Interface
	cfg    v1alpha1.Config
	rec    *Reconciler
	runner *Runner
	events record.EventRecorder
	src    Source
	status *Status

	mu       sync.Mutex
	pending  map[types.NamespacedName]struct{}
	fullNext bool
	reported map[types.NamespacedName]string // last Event message per Service
}

// NewController wires a Reconciler to the API server.
func NewController(client kubernetes.Interface, rec *Reconciler, cfg v1alpha1.Config, events record.EventRecorder) *Controller {
	c := &Controller{
		client:   client,
		cfg:      cfg,
		rec:      rec,
		events:   events,
		status:   NewStatus(nil, 2*cfg.SyncPeriod, nil),
		pending:  map[types.NamespacedName]struct{}{},
		reported: map[types.NamespacedName]string{},
	}
	c.runner = NewRunner(cfg.MinSyncPeriod, cfg.SyncPeriod, c.sync)
	return c
}

// Status is what the last syncs did, for /healthz and /metrics.
func (c *Controller) Status() *Status { return c.status }

// Run starts the informers, waits for their caches, then syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(c.client, 0)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	if err := addSliceIndex(sliceInf.Informer()); err != nil {
		return err
	}
	mark := func(n types.NamespacedName) {
		c.mu.Lock()
		c.pending[n] = struct{}{}
		c.mu.Unlock()
		c.runner.Request()
	}
	if _, err := svcInf.Informer().AddEventHandler(handler(mark)); err != nil {
		return fmt.Errorf("watch Services: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(handler(mark)); err != nil {
		return fmt.Errorf("watch EndpointSlices: %w", err)
	}
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(c.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", c.cfg.NodeName).String()
		}))
	nodeInf := nodeFactory.Core().V1().Nodes().Informer()
	// A change to this node (addresses, labels) asks for a full sync.
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.requestFull() },
		UpdateFunc: func(any, any) { c.requestFull() },
		DeleteFunc: func(any) { c.requestFull() },
	}); err != nil {
		return fmt.Errorf("watch Node %s: %w", c.cfg.NodeName, err)
	}
	c.src = cacheSource{services: svcInf.Lister(), slices: sliceInf.Informer().GetIndexer()}
	// Health and metrics (status.go): change counters, queued updates, this Node.
	ws, err := c.status.watch(svcInf.Informer(), sliceInf.Informer(), nodeInf, c.cfg.NodeName)
	if err != nil {
		return err
	}

	factory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	if !c.status.waitForCaches(ctx, ws) {
		factory.Shutdown()
		nodeFactory.Shutdown()
		return nil // stopped (SIGTERM) before the caches synced: a clean exit
	}
	c.runner.Run(ctx)
	factory.Shutdown()
	nodeFactory.Shutdown()
	return nil
}

func (c *Controller) requestFull() {
	c.mu.Lock()
	c.fullNext = true
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
	full = full || c.fullNext || !c.rec.Synced()
	c.fullNext = false
	c.mu.Unlock()
	if !full && len(names) == 0 {
		return nil
	}

	start := time.Now()
	var res Result
	var err error
	if full {
		res, err = c.rec.Full(ctx, c.src)
	} else {
		res, err = c.rec.Incremental(ctx, c.src, names)
	}
	elapsed := time.Since(start)
	c.status.record(c.rec, full, names, res, elapsed, err)
	if err != nil {
		log.Error(err, "sync failed; retrying with a full sync", "full", full, "services", len(names), "changes", res.Plan.Len(), "elapsed", elapsed)
	} else {
		log.V(1).Info("synced", "full", full, "services", len(names), "changes", res.Plan.Len(), "elapsed", elapsed)
	}
	c.report(ctx, res.Problems)
	c.forget(full, err, names, res.Problems)
	c.status.problems(len(c.reported))
	return err
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
			c.events.Event(svc, corev1.EventTypeWarning, "SyncProblem", msg)
		}
	}
}

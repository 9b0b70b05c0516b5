package controllers

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/ipvs-proxy/ipvs-proxy/metrics"
)

// toBeDeletedTaint marks a node the cluster autoscaler is about to remove;
// kube-proxy then fails /healthz so load balancers drain the node.
const toBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

// Status tracks health the way kube-proxy's healthz server does, and feeds the
// metrics. Informer events queue an update; a successful sync marks the
// proxy updated. It is unhealthy when an update has been queued for longer
// than the timeout without a successful sync (kube-proxy's rule; we also
// count a failed sync as queued work, since the Runner retries it). /healthz
// additionally needs this node to be eligible (known, not being deleted, not
// tainted ToBeDeletedByClusterAutoscaler) and, unlike kube-proxy, the caches
// synced and one full sync done, so that it doubles as the readiness signal.
type Status struct {
	// APIServer is where the client talks to, for log lines.
	APIServer string
	// Probe, when set, is asked for the reason while the caches cannot sync
	// and no list/watch error has been reported (run.go: GET /version).
	Probe func(context.Context) error

	m       *metrics.Metrics
	now     func() time.Time
	timeout time.Duration
	start   time.Time

	mu           sync.Mutex
	lastUpdated  time.Time // last successful sync (or start of the sync loop)
	oldestQueued time.Time // zero when nothing is pending
	node         *corev1.Node
	cachesSynced bool
	fullSynced   bool // a full sync has succeeded
	lastSuccess  time.Time
	triggers     map[types.NamespacedName][]time.Time // EndpointSlice change times not yet programmed
	realServers  int                                  // owned real servers, kept between full syncs
}

// NewStatus returns a Status unhealthy after timeout of queued work (kube-proxy
// uses twice the sync period). now is the clock; nil means time.Now.
func NewStatus(m *metrics.Metrics, timeout time.Duration, now func() time.Time) *Status {
	if now == nil {
		now = time.Now
	}
	if m == nil {
		m = metrics.New()
	}
	return &Status{m: m, now: now, timeout: timeout, start: now(), triggers: map[types.NamespacedName][]time.Time{}}
}

// Metrics are the collectors this Status records into.
func (s *Status) Metrics() *metrics.Metrics { return s.m }

// queued notes that work is waiting for a sync (kube-proxy's QueuedUpdate).
func (s *Status) queued() {
	now := s.now()
	s.mu.Lock()
	if s.oldestQueued.IsZero() {
		s.oldestQueued = now
	}
	s.mu.Unlock()
	s.m.Queued(now)
}

// loopStarted marks the caches synced and the sync loop started; like
// kube-proxy it counts as an update, so a first sync that never succeeds
// turns unhealthy only after the timeout.
func (s *Status) loopStarted() {
	now := s.now()
	s.mu.Lock()
	s.cachesSynced = true
	s.lastUpdated = now
	s.mu.Unlock()
	s.m.CachesSynced(true)
	s.m.Queued(now)
}

// record takes one sync's outcome: health, metrics, and network programming
// latency for the Services it covered (every one, for a full sync).
func (s *Status) record(rec *Reconciler, full bool, names []types.NamespacedName, res Result, elapsed time.Duration, err error) {
	now := s.now()
	s.m.Synced(full, elapsed, err, now)
	s.mu.Lock()
	drift := full && s.fullSynced
	var done []time.Time
	if err != nil {
		if s.oldestQueued.IsZero() {
			s.oldestQueued = now
		}
	} else {
		s.oldestQueued = time.Time{}
		s.lastUpdated, s.lastSuccess = now, now
		if full {
			s.fullSynced = true
			for n, ts := range s.triggers {
				done = append(done, ts...)
				delete(s.triggers, n)
			}
		} else {
			for _, n := range names {
				done = append(done, s.triggers[n]...)
				delete(s.triggers, n)
			}
		}
	}
	if rec != nil {
		s.realServers = countOwned(s.m, rec, full, res, s.realServers)
	}
	s.mu.Unlock()
	for _, t := range done {
		s.m.Programmed(now.Sub(t))
	}
	if drift {
		s.m.DriftRepaired(res.Plan.Len())
	}
}

// problems sets the number of Services with problems reported.
func (s *Status) problems(n int) { s.m.Problems(n) }

// Healthy tells whether a sync succeeded within the last maxAge.
func (s *Status) Healthy(maxAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastSuccess.IsZero() && s.now().Sub(s.lastSuccess) < maxAge
}

// Health is kube-proxy's /healthz and /livez body (ProxyHealth), with our
// one addition, "ready".
type Health struct {
	LastUpdated  time.Time                        `json:"lastUpdated"`
	CurrentTime  time.Time                        `json:"currentTime"`
	NodeEligible *bool                            `json:"nodeEligible,omitempty"`
	Healthy      bool                             `json:"healthy"`
	Status       map[corev1.IPFamily]FamilyHealth `json:"status,omitempty"`
	// Ready is false until the caches have synced and a full sync succeeded.
	Ready *bool `json:"ready,omitempty"`
}

// FamilyHealth is kube-proxy's per-family entry (ProxierHealth).
type FamilyHealth struct {
	LastUpdated time.Time `json:"lastUpdated"`
	Healthy     bool      `json:"healthy"`
}

// Live is the /livez answer: healthy unless an update has waited longer than
// the timeout.
func (s *Status) Live() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveLocked()
}

func (s *Status) liveLocked() Health {
	now := s.now()
	h := Health{LastUpdated: s.lastUpdated, CurrentTime: now, Healthy: true}
	if !s.oldestQueued.IsZero() && now.Sub(s.oldestQueued) >= s.timeout {
		h.Healthy = false
	}
	if !s.lastUpdated.IsZero() {
		h.Status = map[corev1.IPFamily]FamilyHealth{}
		for _, f := range families(s.node) {
			h.Status[f] = FamilyHealth{LastUpdated: s.lastUpdated, Healthy: h.Healthy}
		}
	}
	return h
}

// Ready is the /healthz answer: Live, and this node eligible, and the first
// full sync done.
func (s *Status) Ready() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.liveLocked()
	eligible := nodeEligible(s.node)
	ready := s.cachesSynced && s.fullSynced
	h.NodeEligible, h.Ready = &eligible, &ready
	h.Healthy = h.Healthy && eligible && ready
	return h
}

func nodeEligible(n *corev1.Node) bool {
	if n == nil || n.DeletionTimestamp != nil {
		return false
	}
	return !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == toBeDeletedTaint })
}

// families are the IP families of the node's InternalIP addresses, IPv4
// first; IPv4 when there are none.
func families(n *corev1.Node) []corev1.IPFamily {
	var v4, v6 bool
	if n != nil {
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == corev1.NodeInternalIP {
				v4 = v4 || ip.Unmap().Is4()
				v6 = v6 || (ip.Is6() && !ip.Is4In6())
			}
		}
	}
	var out []corev1.IPFamily
	if v4 || !v6 {
		out = append(out, corev1.IPv4Protocol)
	}
	if v6 {
		out = append(out, corev1.IPv6Protocol)
	}
	return out
}

func (s *Status) setNode(n *corev1.Node) {
	s.mu.Lock()
	s.node = n
	s.mu.Unlock()
	var fs []string
	for _, f := range families(n) {
		fs = append(fs, string(f))
	}
	s.m.SetFamilies(fs)
	s.queued()
}

// ServiceHandler counts Service changes and queues an update.
func (s *Status) ServiceHandler() cache.ResourceEventHandler {
	f := func(any) { s.m.ServiceChanged(s.now()); s.queued() }
	return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, o any) { f(o) }, DeleteFunc: f}
}

// SliceHandler counts EndpointSlice changes, queues an update and keeps
// their last-change-trigger-time for the network programming latency.
func (s *Status) SliceHandler() cache.ResourceEventHandler {
	f := func(obj any) {
		now := s.now()
		s.m.EndpointsChanged(now)
		s.queued()
		sl, ok := obj.(*slimSlice) // the informer's form (slimslice.go)
		if !ok {
			return // a deletion tombstone: no trigger time to measure
		}
		t, ok := sl.triggerTime()
		n, owned := sl.owner()
		if !ok || !owned || !t.After(s.start) {
			return
		}
		s.mu.Lock()
		s.triggers[n] = append(s.triggers[n], t)
		s.mu.Unlock()
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, o any) { f(o) }, DeleteFunc: f}
}

// NodeHandler keeps this node (for /healthz eligibility and the ip_family
// label) and queues an update.
func (s *Status) NodeHandler() cache.ResourceEventHandler {
	set := func(obj any) {
		n, _ := obj.(*corev1.Node)
		s.setNode(n)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, o any) { set(o) },
		DeleteFunc: func(any) { s.setNode(nil) },
	}
}

// recordAudit counts what one step of the rolling audit found (drift:
// kernel objects differing from the cache) and the kernel changes that
// repaired it.
func (s *Status) recordAudit(drift, repairs int) {
	s.m.AuditDrift(drift)
	s.m.DriftRepaired(repairs)
}

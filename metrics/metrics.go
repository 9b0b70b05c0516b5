// Package metrics holds ipvs-proxy's Prometheus collectors on a registry of
// their own: kube-proxy's names (subsystem "kubeproxy") for what both
// proxies measure, so existing dashboards and alerts keep working, and ours
// under "ipvs_proxy_". It only records numbers; deciding what to record
// happens in controllers.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values of ipvs_proxy_syncs_total and ipvs_proxy_kernel_operations_total.
const (
	Success = "success"
	Failure = "error"
)

// Kinds of owned objects (ipvs_proxy_owned_objects{kind}).
const (
	VirtualServers = "virtual_server"
	RealServers    = "real_server"
	Addresses      = "address"
	SetMembers     = "ipset_member"
)

// syncBuckets are kube-proxy's buckets for sync durations: 1 ms to ~16 s.
var syncBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// programmingBuckets are kube-proxy's buckets for network programming
// latency: 0.25 s, 0.5 s, 1-59 s, 60-115 s by 5, 2-5 min by 30 s.
func programmingBuckets() []float64 {
	b := prometheus.LinearBuckets(0.25, 0.25, 2)
	b = append(b, prometheus.LinearBuckets(1, 1, 59)...)
	b = append(b, prometheus.LinearBuckets(60, 5, 12)...)
	return append(b, prometheus.LinearBuckets(120, 30, 7)...)
}

// Metrics is every collector ipvs-proxy exports. The kube-proxy-named ones
// carry kube-proxy's ip_family label; ipvs-proxy syncs both families in one
// pass, so a sync is recorded under each family the node has (Families).
type Metrics struct {
	reg *prometheus.Registry

	syncDuration        *prometheus.HistogramVec
	fullSyncDuration    *prometheus.HistogramVec
	partialSyncDuration *prometheus.HistogramVec
	lastSync            *prometheus.GaugeVec
	lastQueued          *prometheus.GaugeVec
	programming         *prometheus.HistogramVec
	serviceChanges      prometheus.Counter
	servicesPending     prometheus.Gauge
	endpointChanges     prometheus.Counter
	endpointsPending    prometheus.Gauge
	healthz             *prometheus.CounterVec
	livez               *prometheus.CounterVec

	syncs        *prometheus.CounterVec
	kernelOps    *prometheus.CounterVec
	owned        *prometheus.GaugeVec
	driftRepairs prometheus.Counter
	auditDrift   prometheus.Counter
	problems     prometheus.Gauge
	cacheSynced  prometheus.Gauge

	mu       sync.Mutex
	families []string
}

// New returns Metrics registered on a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	kp := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Subsystem: "kubeproxy", Name: name, Help: help}
	}
	own := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ipvs_proxy", Name: name, Help: help}
	}
	hist := func(o prometheus.Opts, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets,
		}, []string{"ip_family"})
	}
	family := []string{"ip_family"}
	m := &Metrics{
		reg:                 prometheus.NewRegistry(),
		syncDuration:        hist(kp("sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds"), syncBuckets),
		fullSyncDuration:    hist(kp("sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs"), syncBuckets),
		partialSyncDuration: hist(kp("sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs"), syncBuckets),
		lastSync:            prometheus.NewGaugeVec(prometheus.GaugeOpts(kp("sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced")), family),
		lastQueued:          prometheus.NewGaugeVec(prometheus.GaugeOpts(kp("sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync of proxy rules was queued")), family),
		programming:         hist(kp("network_programming_duration_seconds", "In Cluster Network Programming Latency in seconds"), programmingBuckets()),
		serviceChanges:      prometheus.NewCounter(prometheus.CounterOpts(kp("sync_proxy_rules_service_changes_total", "Cumulative proxy rules Service changes"))),
		servicesPending:     prometheus.NewGauge(prometheus.GaugeOpts(kp("sync_proxy_rules_service_changes_pending", "Pending proxy rules Service changes"))),
		endpointChanges:     prometheus.NewCounter(prometheus.CounterOpts(kp("sync_proxy_rules_endpoint_changes_total", "Cumulative proxy rules Endpoint changes"))),
		endpointsPending:    prometheus.NewGauge(prometheus.GaugeOpts(kp("sync_proxy_rules_endpoint_changes_pending", "Pending proxy rules Endpoint changes"))),
		healthz:             prometheus.NewCounterVec(prometheus.CounterOpts(kp("proxy_healthz_total", "Cumulative proxy healthz HTTP status")), []string{"code"}),
		livez:               prometheus.NewCounterVec(prometheus.CounterOpts(kp("proxy_livez_total", "Cumulative proxy livez HTTP status")), []string{"code"}),

		syncs:        prometheus.NewCounterVec(prometheus.CounterOpts(own("syncs_total", "Syncs by kind (full, incremental) and result (success, error)")), []string{"kind", "result"}),
		kernelOps:    prometheus.NewCounterVec(prometheus.CounterOpts(own("kernel_operations_total", "Kernel operations (netlink requests, iptables-save/restore runs, sysctl writes) by kind and result")), []string{"kind", "result"}),
		owned:        prometheus.NewGaugeVec(prometheus.GaugeOpts(own("owned_objects", "Kernel objects ipvs-proxy owns, by kind, after the last sync")), []string{"kind"}),
		driftRepairs: prometheus.NewCounter(prometheus.CounterOpts(own("drift_repairs_total", "Kernel changes made to repair drift (state that differs from what ipvs-proxy programmed) found by the rolling audit or a full sync after the first"))),
		auditDrift:   prometheus.NewCounter(prometheus.CounterOpts(own("audit_drift_total", "Kernel objects the rolling audit found differing from what ipvs-proxy programmed"))),
		problems:     prometheus.NewGauge(prometheus.GaugeOpts(own("services_with_problems", "Services whose last sync reported a problem (see their SyncProblem Events)"))),
		cacheSynced:  prometheus.NewGauge(prometheus.GaugeOpts(own("informer_caches_synced", "1 once the Service, EndpointSlice and Node caches have synced with the API server"))),
		families:     []string{"IPv4"},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.syncDuration, m.fullSyncDuration, m.partialSyncDuration, m.lastSync, m.lastQueued,
		m.programming, m.serviceChanges, m.servicesPending, m.endpointChanges, m.endpointsPending,
		m.healthz, m.livez,
		m.syncs, m.kernelOps, m.owned, m.driftRepairs, m.auditDrift, m.problems, m.cacheSynced,
	)
	for _, k := range []string{VirtualServers, RealServers, Addresses, SetMembers} {
		m.owned.WithLabelValues(k)
	}
	return m
}

// Registry is where the collectors live (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SetFamilies sets the ip_family label values a sync is recorded under
// ("IPv4", "IPv6"); empty means IPv4.
func (m *Metrics) SetFamilies(f []string) {
	if len(f) == 0 {
		f = []string{"IPv4"}
	}
	m.mu.Lock()
	m.families = slices.Clone(f)
	m.mu.Unlock()
}

func (m *Metrics) familyList() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.families
}

// ServiceChanged counts a Service event and stamps the queue time.
func (m *Metrics) ServiceChanged(now time.Time) {
	m.serviceChanges.Inc()
	m.servicesPending.Inc()
	m.Queued(now)
}

// EndpointsChanged counts an EndpointSlice event and stamps the queue time.
func (m *Metrics) EndpointsChanged(now time.Time) {
	m.endpointChanges.Inc()
	m.endpointsPending.Inc()
	m.Queued(now)
}

// Queued stamps the time a sync was last asked for.
func (m *Metrics) Queued(now time.Time) {
	for _, f := range m.familyList() {
		m.lastQueued.WithLabelValues(f).Set(float64(now.UnixNano()) / 1e9)
	}
}

// Synced records one sync: its duration under kube-proxy's histograms, its
// result, and on success the last-sync time and the end of pending changes.
func (m *Metrics) Synced(full bool, d time.Duration, err error, now time.Time) {
	kind, result := "incremental", Success
	if full {
		kind = "full"
	}
	if err != nil {
		result = Failure
	}
	m.syncs.WithLabelValues(kind, result).Inc()
	for _, f := range m.familyList() {
		m.syncDuration.WithLabelValues(f).Observe(d.Seconds())
		if full {
			m.fullSyncDuration.WithLabelValues(f).Observe(d.Seconds())
		} else {
			m.partialSyncDuration.WithLabelValues(f).Observe(d.Seconds())
		}
		if err == nil {
			m.lastSync.WithLabelValues(f).Set(float64(now.UnixNano()) / 1e9)
		}
	}
	if err == nil {
		m.servicesPending.Set(0)
		m.endpointsPending.Set(0)
	}
}

// Programmed observes network programming latency: the time from an
// EndpointSlice's last-change-trigger-time to the sync that applied it.
func (m *Metrics) Programmed(latency time.Duration) {
	for _, f := range m.familyList() {
		m.programming.WithLabelValues(f).Observe(latency.Seconds())
	}
}

// KernelOp counts one kernel operation of kind (e.g. "ipvs_add_virtual_server").
func (m *Metrics) KernelOp(kind string, err error) {
	result := Success
	if err != nil {
		result = Failure
	}
	m.kernelOps.WithLabelValues(kind, result).Inc()
}

// Owned sets the number of owned objects of a kind.
func (m *Metrics) Owned(kind string, n int) { m.owned.WithLabelValues(kind).Set(float64(n)) }

// DriftRepaired counts kernel changes a periodic full sync made.
func (m *Metrics) DriftRepaired(n int) { m.driftRepairs.Add(float64(n)) }

// AuditDrift counts kernel objects the rolling audit found differing.
func (m *Metrics) AuditDrift(n int) { m.auditDrift.Add(float64(n)) }

// Problems sets the number of Services with problems.
func (m *Metrics) Problems(n int) { m.problems.Set(float64(n)) }

// CachesSynced records whether the informer caches have synced.
func (m *Metrics) CachesSynced(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.cacheSynced.Set(v)
}

// Healthz and Livez count the answers of /healthz and /livez by HTTP code.
func (m *Metrics) Healthz(code string) { m.healthz.WithLabelValues(code).Inc() }

// Livez counts an answer of /livez.
func (m *Metrics) Livez(code string) { m.livez.WithLabelValues(code).Inc() }

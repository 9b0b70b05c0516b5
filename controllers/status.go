package controllers

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Status counts syncs for /healthz and /metrics.
type Status struct {
	mu           sync.Mutex
	syncs        map[bool]int
	failures     int
	changes      int
	lastSuccess  time.Time
	lastDuration time.Duration
	drift        int // kernel objects the audit found differing
	repairs      int // kernel operations that repaired them
}

func (s *Status) recordAudit(drift, repairs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drift += drift
	s.repairs += repairs
}

func (s *Status) record(full bool, d time.Duration, changes int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncs == nil {
		s.syncs = map[bool]int{}
	}
	s.syncs[full]++
	s.changes += changes
	s.lastDuration = d
	if err != nil {
		s.failures++
		return
	}
	s.lastSuccess = time.Now()
}

// Healthy tells whether a sync succeeded within the last maxAge.
func (s *Status) Healthy(maxAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastSuccess.IsZero() && time.Since(s.lastSuccess) < maxAge
}

// WriteMetrics writes the counters in the Prometheus text format.
func (s *Status) WriteMetrics(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(w, "ipvs_proxy_syncs_total{kind=\"full\"} %d\n", s.syncs[true])
	fmt.Fprintf(w, "ipvs_proxy_syncs_total{kind=\"incremental\"} %d\n", s.syncs[false])
	fmt.Fprintf(w, "ipvs_proxy_sync_failures_total %d\n", s.failures)
	fmt.Fprintf(w, "ipvs_proxy_kernel_changes_total %d\n", s.changes)
	fmt.Fprintf(w, "ipvs_proxy_last_sync_seconds %g\n", s.lastDuration.Seconds())
	fmt.Fprintf(w, "ipvs_proxy_audit_drift_total %d\n", s.drift)
	fmt.Fprintf(w, "ipvs_proxy_audit_repairs_total %d\n", s.repairs)
	if !s.lastSuccess.IsZero() {
		fmt.Fprintf(w, "ipvs_proxy_last_success_timestamp_seconds %d\n", s.lastSuccess.Unix())
	}
}

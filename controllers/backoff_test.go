package controllers

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second, 10*time.Second)
	a, c := nsn("default/a"), nsn("default/c")
	var got []time.Duration
	for range 6 {
		got = append(got, b.failed(a))
	}
	if want := []time.Duration{1, 2, 4, 8, 10, 10}; !slices.Equal(got, scale(want, time.Second)) {
		t.Errorf("delays of a = %v, want %v seconds", got, want)
	}
	if d := b.failed(c); d != time.Second {
		t.Errorf("first delay of c = %v: backoff is per Service", d)
	}
	b.forget(a)
	if d := b.failed(a); d != time.Second {
		t.Errorf("delay after forget = %v", d)
	}
}

func scale(ds []time.Duration, u time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d * u
	}
	return out
}

// scheduled is a fake clock for Controller.after: it records the delays
// and runs the functions only when told.
type scheduled struct {
	delays []time.Duration
	funcs  []func()
}

func (s *scheduled) after(d time.Duration, f func()) {
	s.delays = append(s.delays, d)
	s.funcs = append(s.funcs, f)
}

func (s *scheduled) fire() {
	fs := s.funcs
	s.funcs = nil
	for _, f := range fs {
		f()
	}
}

// A Service whose kernel operations were refused is retried on its own,
// incrementally, after a backoff that grows with each failure and is cleared
// by a clean sync; the sync itself succeeds, so the Runner does not fall
// back to a full one.
func TestControllerRetriesFailedServiceWithBackoff(t *testing.T) {
	fk := newFakeKernel()
	cfg := testConfig()
	cfg.MinSyncPeriod = time.Second
	ctrl := NewController(nil, NewReconciler(fk.Kernel, cfg), cfg, record.NewFakeRecorder(100))
	ctrl.src = webAndDNS()
	clock := &scheduled{}
	ctrl.after = clock.after
	web := nsn("default/web")
	ctx := context.Background()

	// 1. Full sync: one of web's real servers is refused.
	fk.ipvs.FailNext(ipvs.OpAddRealServer, syscall.EINVAL)
	if err := ctrl.sync(ctx, true); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if !slices.Equal(clock.delays, []time.Duration{time.Second}) {
		t.Fatalf("retries scheduled after %v, want one after 1s", clock.delays)
	}
	clock.fire()
	if _, ok := ctrl.pending[web]; !ok || len(ctrl.pending) != 1 {
		t.Fatalf("pending after the backoff = %v, want only web", ctrl.pending)
	}
	// 2. The retry is incremental (no dump) and fails again: longer backoff.
	fk.resetCalls()
	fk.ipvs.FailNext(ipvs.OpAddRealServer, syscall.EINVAL)
	if err := ctrl.sync(ctx, false); err != nil {
		t.Fatalf("retry sync: %v", err)
	}
	if c := fk.ipvs.Calls(); c.Dump != 0 || c.Mutations() != 1 {
		t.Errorf("retry ipvs calls = %+v, want one mutation and no dump", c)
	}
	if !slices.Equal(clock.delays, []time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("delays = %v, want 1s then 2s", clock.delays)
	}
	// 3. The next retry succeeds: converged, and the backoff is cleared.
	clock.fire()
	if err := ctrl.sync(ctx, false); err != nil {
		t.Fatalf("second retry sync: %v", err)
	}
	if len(clock.delays) != 2 {
		t.Errorf("retry scheduled after success: %v", clock.delays)
	}
	if _, ok := ctrl.retries.failures[web]; ok {
		t.Errorf("backoff of web not cleared: %v", ctrl.retries.failures)
	}
	assertText(t, "kernel vs oracle", fk.dump(), oracle(t, ctrl.src))
}

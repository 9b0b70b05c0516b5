package controllers

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// An outage seen in the client's requests is reported while it lasts and
// once when it ends; cancellations and a healthy server report nothing.
func TestReachabilityReportsAnOutage(t *testing.T) {
	var r reachability
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	r.observe(t0, nil)
	r.observe(t0, context.Canceled)
	if msg, _ := r.report(t0.Add(10 * time.Second)); msg != "" {
		t.Fatalf("healthy server: %q", msg)
	}
	refused := errors.Join(errors.New("dial tcp 10.0.2.100:6443"), syscall.ECONNREFUSED)
	r.observe(t0.Add(time.Second), refused)
	r.observe(t0.Add(3*time.Second), refused)
	msg, kv := r.report(t0.Add(11 * time.Second))
	if msg != "cannot reach the API server; serving from the last known state and retrying" {
		t.Fatalf("during the outage: %q", msg)
	}
	want := []any{"since", "2026-11-30T12:00:01Z", "elapsed", 10 * time.Second, "lastError", refused.Error()}
	if len(kv) != len(want) {
		t.Fatalf("kv %v, want %v", kv, want)
	}
	for i := range want {
		if kv[i] != want[i] {
			t.Fatalf("kv %v, want %v", kv, want)
		}
	}
	if msg, _ := r.report(t0.Add(21 * time.Second)); msg == "" {
		t.Fatal("no line on the second tick of the outage")
	}
	r.observe(t0.Add(25*time.Second), nil)
	msg, kv = r.report(t0.Add(31 * time.Second))
	if msg != "API server reachable again" || kv[1] != 30*time.Second {
		t.Fatalf("after the outage: %q %v", msg, kv)
	}
	if msg, _ := r.report(t0.Add(41 * time.Second)); msg != "" {
		t.Fatalf("the end of the outage reported twice: %q", msg)
	}
}

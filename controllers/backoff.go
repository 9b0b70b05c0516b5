package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// backoff is per-Service exponential backoff for the incremental retry of
// Services whose kernel operations failed: base after the first failure,
// doubling up to max. It is not safe for concurrent use (the Runner's
// goroutine owns it) and has no clock: the Controller's after schedules.
type backoff struct {
	base, max time.Duration
	failures  map[types.NamespacedName]int
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, failures: map[types.NamespacedName]int{}}
}

// failed counts one more failure of n and returns how long to wait before
// retrying it.
func (b *backoff) failed(n types.NamespacedName) time.Duration {
	b.failures[n]++
	d := b.base
	for i := 1; i < b.failures[n] && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// forget clears n's failures: it synced cleanly, or is gone.
func (b *backoff) forget(n types.NamespacedName) { delete(b.failures, n) }

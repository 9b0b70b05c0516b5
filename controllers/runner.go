package controllers

import (
	"context"
	"time"
)

// Runner runs one sync function, level-triggered and coalesced: any number of
// Request calls lead to one sync, at most one sync starts per MinInterval, a
// full sync runs first and then every FullInterval, and a failed sync is
// retried (as a full one) with exponential backoff up to MaxBackoff.
type Runner struct {
	MinInterval  time.Duration
	FullInterval time.Duration
	MaxBackoff   time.Duration
	// Sync does the work; full asks for a full resync.
	Sync func(ctx context.Context, full bool) error

	kick chan struct{}
}

// NewRunner returns a Runner; call Run to start it.
func NewRunner(minInterval, fullInterval time.Duration, sync func(context.Context, bool) error) *Runner {
	return &Runner{
		MinInterval:  minInterval,
		FullInterval: fullInterval,
		MaxBackoff:   time.Minute,
		Sync:         sync,
		kick:         make(chan struct{}, 1),
	}
}

// Request marks work to do; it never blocks.
func (r *Runner) Request() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run syncs until ctx is done.
func (r *Runner) Run(ctx context.Context) {
	var (
		last     time.Time // start of the last sync
		failures int
		needFull = true
		dirty    = false
		fullAt   time.Time
	)
	for {
		var next time.Time
		switch {
		case failures > 0:
			next = last.Add(r.backoff(failures))
		case dirty || needFull:
			next = last.Add(r.MinInterval)
		default:
			next = fullAt
		}
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-r.kick:
				t.Stop()
				dirty = true
				continue
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Work requested up to here is picked up by this sync.
		select {
		case <-r.kick:
		default:
		}
		full := needFull || !time.Now().Before(fullAt)
		last, dirty = time.Now(), false
		if err := r.Sync(ctx, full); err != nil {
			failures++
			needFull = true
			continue
		}
		failures = 0
		if full {
			needFull = false
			fullAt = last.Add(r.FullInterval)
		}
	}
}

func (r *Runner) backoff(failures int) time.Duration {
	d := max(r.MinInterval, 500*time.Millisecond)
	for i := 1; i < failures && d < r.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.MaxBackoff)
}

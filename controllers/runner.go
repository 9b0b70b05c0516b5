package controllers

import (
	"context"
	"time"
)

// Runner runs one sync function, level-triggered and coalesced: any number of
// Request calls lead to one sync, at most one sync starts per MinInterval, a
// full sync runs first (and every FullInterval when that is set), and a
// failed sync is retried (as a full one) with exponential backoff up to
// MaxBackoff.
//
// Background work that is not a change (the periodic refresh, the rolling
// kernel audit) runs as Tasks, each a bounded slice of work, in the same
// goroutine: a requested sync that is due always runs before a due Task, so
// a change waits at most for the one slice that is running when it arrives,
// never for a whole resync.
type Runner struct {
	MinInterval time.Duration
	// FullInterval > 0 runs a full sync that often; 0 means only the first
	// one and retries (the Tasks do the periodic work).
	FullInterval time.Duration
	MaxBackoff   time.Duration
	// Sync does the work; full asks for a full resync.
	Sync func(ctx context.Context, full bool) error
	// Tasks run after the first full sync, each every Every; an error counts
	// as a failed sync (retried as a full one).
	Tasks []Task
	// Clock is the time source (the real one when nil); tests inject theirs.
	Clock Clock

	kick chan struct{}
}

// Task is one kind of bounded background work. A Run that returns more
// (its round is split into slices) runs again as soon as nothing else is
// due; otherwise it runs again Every later.
type Task struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) (more bool, err error)
}

// Clock is the time the Runner reads and waits on.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
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

// what the Runner does next.
const (
	doSync = -1 // a sync, full or not
)

// Run syncs until ctx is done.
func (r *Runner) Run(ctx context.Context) {
	clock := r.Clock
	if clock == nil {
		clock = realClock{}
	}
	var (
		last     time.Time // start of the last sync
		failures int
		needFull = true
		dirty    = false
		fullAt   time.Time
		taskAt   = make([]time.Time, len(r.Tasks))
	)
	for {
		// The earliest due work: a sync (retry, first full, requested,
		// periodic full) wins ties against Tasks.
		var next time.Time
		what := doSync
		switch {
		case failures > 0:
			next = last.Add(r.backoff(failures))
		case dirty || needFull:
			next = last.Add(r.MinInterval)
		case r.FullInterval > 0:
			next = fullAt
		default:
			what = len(r.Tasks) // nothing
		}
		if failures == 0 && !needFull {
			for i, at := range taskAt {
				if what == len(r.Tasks) || at.Before(next) {
					what, next = i, at
				}
			}
		}
		if what == len(r.Tasks) { // no Tasks, no FullInterval: wait for a request
			select {
			case <-ctx.Done():
				return
			case <-r.kick:
				dirty = true
				continue
			}
		}
		if wait := next.Sub(clock.Now()); wait > 0 {
			c, stop := clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				stop()
				return
			case <-r.kick:
				stop()
				dirty = true
				continue
			case <-c:
			}
		}
		if ctx.Err() != nil {
			return
		}
		if what != doSync {
			// A request that arrived while waiting is served first.
			select {
			case <-r.kick:
				dirty = true
				continue
			default:
			}
			t := r.Tasks[what]
			start := clock.Now()
			more, err := t.Run(ctx)
			taskAt[what] = start.Add(t.Every)
			if more {
				taskAt[what] = start
			}
			if err != nil {
				failures++
				needFull = true
			}
			continue
		}
		// Work requested up to here is picked up by this sync.
		select {
		case <-r.kick:
		default:
		}
		now := clock.Now()
		full := needFull || (r.FullInterval > 0 && !now.Before(fullAt))
		last, dirty = now, false
		if err := r.Sync(ctx, full); err != nil {
			failures++
			needFull = true
			continue
		}
		failures = 0
		if full {
			needFull = false
			fullAt = last.Add(r.FullInterval)
			// A full sync did everything the Tasks do.
			for i, t := range r.Tasks {
				taskAt[i] = last.Add(t.Every)
			}
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

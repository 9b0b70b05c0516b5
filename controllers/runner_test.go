package controllers

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// A generous bound for anything that should happen "soon"; a test only waits
// this long when it is failing.
const eventually = 5 * time.Second

type syncCall struct {
	full bool
	at   time.Time
}

// recorder is a Runner sync function that reports each call on a channel and
// returns what the test scripts (nil once the script runs out). A call whose
// script entry is a channel blocks until the channel is closed.
type recorder struct {
	calls  chan syncCall
	errs   []error
	blocks map[int]chan struct{}
	n      int // calls so far; used only by the Runner's goroutine
}

func newRecorder(errs ...error) *recorder {
	return &recorder{calls: make(chan syncCall, 1000), errs: errs, blocks: map[int]chan struct{}{}}
}

// block makes call i (1-based) wait until the returned channel is closed.
func (r *recorder) block(i int) chan struct{} {
	c := make(chan struct{})
	r.blocks[i] = c
	return c
}

func (r *recorder) sync(ctx context.Context, full bool) error {
	r.n++
	r.calls <- syncCall{full: full, at: time.Now()}
	if c, ok := r.blocks[r.n]; ok {
		select {
		case <-c:
		case <-ctx.Done():
		}
	}
	if r.n <= len(r.errs) {
		return r.errs[r.n-1]
	}
	return nil
}

// next waits for the next sync call.
func (r *recorder) next(t *testing.T, what string) syncCall {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(eventually):
		t.Fatalf("no sync call (%s) within %s", what, eventually)
		return syncCall{}
	}
}

// none asserts that no sync call comes within d. A slow machine can only make
// it pass wrongly, never fail wrongly.
func (r *recorder) none(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case c := <-r.calls:
		t.Fatalf("unexpected sync call (full=%v) %s", c.full, what)
	case <-time.After(d):
	}
}

// startRunner runs ru until the test ends and checks that Run returns.
func startRunner(t *testing.T, ru *Runner) (cancel func(), done chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() {
		defer close(done)
		ru.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(eventually):
			t.Errorf("Run did not return after cancel")
		}
	})
	return cancel, done
}

func TestRunnerFirstSyncIsFull(t *testing.T) {
	rec := newRecorder()
	ru := NewRunner(10*time.Millisecond, time.Hour, rec.sync)
	startRunner(t, ru)
	if c := rec.next(t, "initial"); !c.full {
		t.Error("first sync not full")
	}
	ru.Request()
	if c := rec.next(t, "requested"); c.full {
		t.Error("requested sync is full")
	}
	rec.none(t, 50*time.Millisecond, "without a request")
}

// 6. A failed sync is retried, as a full one, until it succeeds.
func TestRunnerRetriesFailedSyncAsFull(t *testing.T) {
	rec := newRecorder(errBoom, errBoom, nil, errBoom, nil)
	ru := NewRunner(10*time.Millisecond, time.Hour, rec.sync)
	ru.MaxBackoff = 20 * time.Millisecond
	startRunner(t, ru)
	for i := 1; i <= 3; i++ {
		if c := rec.next(t, "retry"); !c.full {
			t.Errorf("call %d: full=false, want a full sync", i)
		}
	}
	rec.none(t, 50*time.Millisecond, "after a successful retry")

	// An incremental sync that fails is retried as a full one.
	ru.Request()
	if c := rec.next(t, "requested"); c.full {
		t.Error("requested sync is full")
	}
	if c := rec.next(t, "retry of incremental"); !c.full {
		t.Error("retry of a failed incremental sync is not full")
	}
	rec.none(t, 50*time.Millisecond, "after a successful retry")
	ru.Request()
	if c := rec.next(t, "requested after recovery"); c.full {
		t.Error("sync after recovery is full")
	}
}

// Retries back off exponentially from max(MinInterval, 500ms) up to MaxBackoff.
func TestRunnerBackoff(t *testing.T) {
	ru := NewRunner(10*time.Millisecond, time.Hour, nil)
	ru.MaxBackoff = 3 * time.Second
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		if got := ru.backoff(i + 1); got != want {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, want)
		}
	}
	ru.MinInterval = 2 * time.Second
	if got := ru.backoff(1); got != 2*time.Second {
		t.Errorf("backoff(1) with MinInterval 2s = %s", got)
	}
}

// 9. Requests made during a sync lead to exactly one more sync.
func TestRunnerCoalesces(t *testing.T) {
	rec := newRecorder()
	release := rec.block(2)
	ru := NewRunner(time.Millisecond, time.Hour, rec.sync)
	startRunner(t, ru)
	rec.next(t, "initial")
	ru.Request()
	rec.next(t, "requested") // now blocked
	for range 100 {
		ru.Request()
	}
	close(release)
	if c := rec.next(t, "coalesced"); c.full {
		t.Error("coalesced sync is full")
	}
	rec.none(t, 100*time.Millisecond, "after the coalesced sync")
	ru.Request()
	rec.next(t, "requested after the coalesced sync")
}

// 9. No sync starts sooner than MinInterval after the previous one started.
func TestRunnerMinInterval(t *testing.T) {
	const minInterval = 100 * time.Millisecond
	const slack = 10 * time.Millisecond // between the Runner's clock and the recorder's
	rec := newRecorder()
	ru := NewRunner(minInterval, time.Hour, rec.sync)
	startRunner(t, ru)
	first := rec.next(t, "initial")
	ru.Request()
	ru.Request()
	second := rec.next(t, "requested")
	ru.Request()
	third := rec.next(t, "requested again")
	for i, gap := range []time.Duration{second.at.Sub(first.at), third.at.Sub(second.at)} {
		if gap < minInterval-slack {
			t.Errorf("gap %d between syncs = %s, want at least %s", i+1, gap, minInterval)
		}
	}
}

// 9. A full sync runs every FullInterval, also without requests.
func TestRunnerFullInterval(t *testing.T) {
	const fullInterval = 50 * time.Millisecond
	const slack = 10 * time.Millisecond
	rec := newRecorder()
	ru := NewRunner(time.Millisecond, fullInterval, rec.sync)
	startRunner(t, ru)
	first := rec.next(t, "initial")
	ru.Request()
	if c := rec.next(t, "requested"); c.full {
		t.Error("requested sync is full")
	}
	for i := range 2 {
		c := rec.next(t, "periodic full")
		if !c.full {
			t.Fatalf("periodic sync %d not full", i+1)
		}
		if gap := c.at.Sub(first.at); gap < fullInterval-slack {
			t.Errorf("full sync %s after the previous one, want at least %s", gap, fullInterval)
		}
		first = c
	}
}

// 9. Cancelling the context stops Run, whether it is idle, backing off or syncing.
func TestRunnerCancel(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		rec := newRecorder()
		cancel, done := startRunner(t, NewRunner(time.Millisecond, time.Hour, rec.sync))
		rec.next(t, "initial")
		cancel()
		waitClosed(t, done, "Run to return")
		rec.none(t, 20*time.Millisecond, "after Run returned")
	})
	t.Run("backing off", func(t *testing.T) {
		rec := newRecorder(errBoom)
		cancel, done := startRunner(t, NewRunner(time.Millisecond, time.Hour, rec.sync)) // backoff 500ms
		rec.next(t, "initial")
		cancel()
		waitClosed(t, done, "Run to return")
	})
	t.Run("syncing", func(t *testing.T) {
		rec := newRecorder()
		rec.block(1) // never released: the sync returns on ctx.Done
		cancel, done := startRunner(t, NewRunner(time.Millisecond, time.Hour, rec.sync))
		rec.next(t, "initial")
		cancel()
		waitClosed(t, done, "Run to return")
		if len(rec.calls) != 0 {
			t.Errorf("%d syncs after cancel", len(rec.calls))
		}
	})
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(eventually):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// ---- injected clock ----

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.timers = slices.DeleteFunc(c.timers, func(t fakeTimer) bool { return t.c == ch })
	}
}

// advance moves the clock by d and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.timers = slices.DeleteFunc(c.timers, func(t fakeTimer) bool {
		if t.at.After(c.now) {
			return false
		}
		t.c <- c.now
		return true
	})
}

// waitTimer waits until the Runner is waiting on a timer (so that an
// advance reaches it) and returns how long that timer has to run.
func (c *fakeClock) waitTimer(t *testing.T) time.Duration {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if len(c.timers) > 0 {
			d := c.timers[0].at.Sub(c.now)
			c.mu.Unlock()
			return d
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the Runner never waited on a timer")
	return 0
}

// taskRecorder records Task runs on the same channel as syncs (full=false,
// task set) so that tests see one ordered stream of work.
type work struct {
	kind string // "full", "sync" or a task name
	at   time.Time
}

type workLog struct {
	clock *fakeClock
	c     chan work
}

func newWorkLog(c *fakeClock) *workLog { return &workLog{clock: c, c: make(chan work, 100)} }

func (w *workLog) sync(_ context.Context, full bool) error {
	k := "sync"
	if full {
		k = "full"
	}
	w.c <- work{kind: k, at: w.clock.Now()}
	return nil
}

func (w *workLog) task(name string, block chan struct{}) Task {
	return Task{Name: name, Run: func(ctx context.Context) (bool, error) {
		w.c <- work{kind: name, at: w.clock.Now()}
		if block != nil {
			select {
			case <-block:
			case <-ctx.Done():
			}
		}
		return false, nil
	}}
}

func (w *workLog) next(t *testing.T) work {
	t.Helper()
	select {
	case x := <-w.c:
		return x
	case <-time.After(eventually):
		t.Fatal("no work within", eventually)
		return work{}
	}
}

// 1. After the first full sync, periodic work is the Tasks, each on its own
// period, and no full sync comes back.
func TestRunnerTasksReplacePeriodicFull(t *testing.T) {
	clock := newFakeClock()
	w := newWorkLog(clock)
	ru := NewRunner(0, 0, w.sync)
	ru.Clock = clock
	refresh, audit := w.task("refresh", nil), w.task("audit", nil)
	refresh.Every, audit.Every = 30*time.Second, time.Second
	ru.Tasks = []Task{refresh, audit}
	startRunner(t, ru)
	if x := w.next(t); x.kind != "full" {
		t.Fatalf("first work %q, want full", x.kind)
	}
	var counts = map[string]int{}
	for range 60 {
		clock.waitTimer(t)
		clock.advance(time.Second)
		x := w.next(t)
		counts[x.kind]++
		if x.kind == "refresh" { // due at the same second as an audit slice
			counts[w.next(t).kind]++
		}
	}
	if counts["full"] != 0 || counts["refresh"] != 2 || counts["audit"] != 60 {
		t.Errorf("in 60 s: %v, want 2 refreshes, 60 audit slices and no full sync", counts)
	}
}

// 1. A change requested while a Task slice runs is served as soon as that
// slice returns, before any further Task that is due.
func TestRunnerChangeBeforeDueTasks(t *testing.T) {
	clock := newFakeClock()
	w := newWorkLog(clock)
	ru := NewRunner(0, 0, w.sync)
	ru.Clock = clock
	release := make(chan struct{})
	slow := w.task("slice", release)
	slow.Every = time.Second
	other := w.task("refresh", nil)
	other.Every = time.Second
	ru.Tasks = []Task{slow, other}
	startRunner(t, ru)
	w.next(t) // full
	clock.waitTimer(t)
	clock.advance(time.Second) // both tasks due
	if x := w.next(t); x.kind != "slice" {
		t.Fatalf("got %q, want the first slice", x.kind)
	}
	ru.Request() // arrives during the slice
	close(release)
	if x := w.next(t); x.kind != "sync" {
		t.Fatalf("after the slice: %q, want the requested sync before the due refresh", x.kind)
	}
	if x := w.next(t); x.kind != "refresh" {
		t.Fatalf("then %q, want the refresh", x.kind)
	}
}

// 9. MinInterval spaces syncs, measured on the injected clock; Tasks do not
// count against it.
func TestRunnerMinIntervalFakeClock(t *testing.T) {
	clock := newFakeClock()
	w := newWorkLog(clock)
	ru := NewRunner(100*time.Millisecond, 0, w.sync)
	ru.Clock = clock
	task := w.task("slice", nil)
	task.Every = 30 * time.Millisecond
	ru.Tasks = []Task{task}
	startRunner(t, ru)
	first := w.next(t) // full at t0
	ru.Request()
	var got []work
	for len(got) == 0 || got[len(got)-1].kind != "sync" {
		if d := clock.waitTimer(t); d <= 0 {
			t.Fatalf("timer of %s", d)
		}
		clock.advance(10 * time.Millisecond)
		select {
		case x := <-w.c:
			got = append(got, x)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if gap := got[len(got)-1].at.Sub(first.at); gap != 100*time.Millisecond {
		t.Errorf("requested sync %s after the full one, want exactly MinInterval (100ms); work: %v", gap, got)
	}
	if len(got) != 4 { // slices at 30, 60, 90 ms, then the sync
		t.Errorf("work before the sync: %v", got)
	}
}

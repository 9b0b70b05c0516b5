package controllers

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// reachability tells from the client's own requests whether the API server
// answers: a request that gets no HTTP answer (connection refused or reset,
// timeout) marks it unreachable since then, any answer marks it reachable.
// After the caches synced, client-go retries a refused watch inside the
// reflector without calling the watch error handler, so without this an
// outage would be silent: Run logs a line every cacheLogInterval while the
// API server is unreachable (what, where, since when, the last error) and
// one when it is back. It costs no request of its own.
type reachability struct {
	mu      sync.Mutex
	down    bool
	since   time.Time // of the first failure of this outage
	lastErr error
	logged  bool // this outage was logged
}

// observe records the outcome of one request.
func (r *reachability) observe(now time.Time, err error) {
	if errors.Is(err, context.Canceled) {
		return // our own cancellation says nothing about the server
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.down = false
		return
	}
	if !r.down {
		r.down, r.since, r.logged = true, now, false
	}
	r.lastErr = err
}

// wrap is a rest.Config WrapTransport that observes every request.
func (r *reachability) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		r.observe(time.Now(), err)
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// report returns the line to log at now, if any: "cannot reach" while
// down, "reachable again" once after an outage that was logged.
func (r *reachability) report(now time.Time) (msg string, kv []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.down:
		r.logged = true
		kv = []any{"since", r.since.UTC().Format(time.RFC3339), "elapsed", now.Sub(r.since).Round(time.Second)}
		if r.lastErr != nil {
			kv = append(kv, "lastError", r.lastErr.Error())
		}
		return "cannot reach the API server; serving from the last known state and retrying", kv
	case r.logged:
		r.logged = false
		return "API server reachable again", []any{"down", now.Sub(r.since).Round(time.Second)}
	}
	return "", nil
}

// run logs report's lines every cacheLogInterval until ctx ends.
func (r *reachability) run(ctx context.Context, apiServer string) {
	log := logr.FromContextOrDiscard(ctx)
	tick := time.NewTicker(cacheLogInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if msg, kv := r.report(now); msg != "" {
				log.Info(msg, append([]any{"apiServer", apiServer}, kv...)...)
			}
		}
	}
}

package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/cache"
)

// cacheLogInterval is how often a line is logged while the caches cannot
// sync, and at most how often a watch error is logged afterwards.
var cacheLogInterval = 10 * time.Second

// watchedCache is one informer under the name log lines give it.
type watchedCache struct {
	what string // "Services", "EndpointSlices", "Node node-a"
	inf  cache.SharedInformer
	// handler, when set, is waited for too: an event handler that keeps
	// what syncs read (the EndpointSlices' sliceIndex) has seen the
	// initial list.
	handler cache.ResourceEventHandlerRegistration

	mu      sync.Mutex
	lastErr error
	logged  time.Time
}

func (w *watchedCache) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// watchErrors replaces client-go's watch error handler (which logs through
// klog, in another format) on every informer: the last list/watch error is
// kept for the waiting log line, and once the caches have synced an error is
// logged at most once per cacheLogInterval per informer. Call before the
// informers start.
func (s *Status) watchErrors(ws []*watchedCache) error {
	for _, w := range ws {
		err := w.inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
			w.mu.Lock()
			w.lastErr = err
			synced := s.synced()
			now := time.Now()
			logIt := synced && now.Sub(w.logged) >= cacheLogInterval
			if logIt {
				w.logged = now
			}
			w.mu.Unlock()
			if logIt {
				logr.FromContextOrDiscard(ctx).Error(err, "list/watch failed; serving from the last known state and retrying",
					"resource", w.what, "apiServer", s.APIServer)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Status) synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cachesSynced
}

// waitForCaches waits until every informer has synced, logging every
// cacheLogInterval what is still missing, from which API server, since when
// and the last error. It returns false when ctx ends first. While it waits
// /healthz answers 503 (not ready) and /livez 200.
func (s *Status) waitForCaches(ctx context.Context, ws []*watchedCache) bool {
	log := logr.FromContextOrDiscard(ctx)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	next := start.Add(cacheLogInterval)
	for {
		var missing []string
		var lastErr error
		for _, w := range ws {
			if !w.inf.HasSynced() || (w.handler != nil && !w.handler.HasSynced()) {
				missing = append(missing, w.what)
				if err := w.err(); err != nil {
					lastErr = err
				}
			}
		}
		if len(missing) == 0 {
			log.Info("caches synced", "apiServer", s.APIServer, "elapsed", time.Since(start).Round(time.Millisecond))
			s.loopStarted()
			return true
		}
		if now := time.Now(); !now.Before(next) {
			next = now.Add(cacheLogInterval)
			kv := []any{"apiServer", s.APIServer, "waiting", missing, "since", start.UTC().Format(time.RFC3339), "elapsed", now.Sub(start).Round(time.Second)}
			if lastErr == nil && s.Probe != nil {
				// client-go retries a refused connection inside the
				// reflector without reporting it: ask the server directly.
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				lastErr = s.Probe(pctx)
				cancel()
			}
			if lastErr != nil {
				kv = append(kv, "lastError", lastErr.Error())
			}
			log.Info("cannot sync caches with the API server yet; not ready, retrying", kv...)
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// watch adds the Status's event handlers to the three informers and takes
// over their watch error handlers; it returns them named for waitForCaches.
func (s *Status) watch(services, slices, node cache.SharedIndexInformer, nodeName string) ([]*watchedCache, error) {
	for _, h := range []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{{services, s.ServiceHandler()}, {slices, s.SliceHandler()}, {node, s.NodeHandler()}} {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("status handler: %w", err)
		}
	}
	ws := []*watchedCache{{what: "Services", inf: services}, {what: "EndpointSlices", inf: slices}, {what: "Node " + nodeName, inf: node}}
	if err := s.watchErrors(ws); err != nil {
		return nil, fmt.Errorf("watch error handler: %w", err)
	}
	return ws, nil
}

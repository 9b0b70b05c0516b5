package controllers

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// The slice index follows the events: an update replaces a slice in
// place, a label change moves it from one Service to the other (both
// marked, after the index changed), a delete (or tombstone) drops it, and
// unlabelled slices are not indexed.
func TestSliceIndexFollowsEvents(t *testing.T) {
	idx := newSliceIndex()
	var marks []types.NamespacedName
	var seen [][]string // the index's view of web at each mark
	names := func(n types.NamespacedName) []string {
		var out []string
		for _, r := range idx.refs(n) {
			out = append(out, r.sl.Name+"@"+r.rv)
		}
		slices.Sort(out)
		return out
	}
	web, other := nsn("default/web"), nsn("default/other")
	h := idx.handler(func(n types.NamespacedName) { marks = append(marks, n); seen = append(seen, names(web)) })
	slim := func(name, svc, rv string) *slimSlice {
		sl := epSlice("default/"+name, svc, "http", "", 8080, "10.244.1.1")
		sl.ResourceVersion = rv
		if svc == "" {
			delete(sl.Labels, desired.ServiceNameLabel)
		}
		return slimOf(sl)
	}
	a1, b1 := slim("web-a", "web", "1"), slim("web-b", "web", "1")
	h.OnAdd(a1, true)
	h.OnAdd(b1, true)
	h.OnAdd(slim("loose", "", "1"), true)
	if got := names(web); !slices.Equal(got, []string{"web-a@1", "web-b@1"}) {
		t.Fatalf("after adds: %v", got)
	}
	if len(idx.m) != 1 {
		t.Errorf("index holds %d Services, want 1 (the unlabelled slice is not indexed)", len(idx.m))
	}
	a2 := slim("web-a", "web", "2")
	h.OnUpdate(a1, a2)
	if got := names(web); !slices.Equal(got, []string{"web-a@2", "web-b@1"}) {
		t.Errorf("after update: %v", got)
	}
	if got := seen[len(seen)-1]; !slices.Equal(got, []string{"web-a@2", "web-b@1"}) {
		t.Errorf("the update marked web before the index changed: it saw %v", got)
	}
	b2 := slim("web-b", "other", "2")
	marks = nil
	h.OnUpdate(b1, b2)
	if got := names(web); !slices.Equal(got, []string{"web-a@2"}) {
		t.Errorf("web after the move: %v", got)
	}
	if got := names(other); !slices.Equal(got, []string{"web-b@2"}) {
		t.Errorf("other after the move: %v", got)
	}
	if !slices.Contains(marks, web) || !slices.Contains(marks, other) {
		t.Errorf("the move marked %v, want web and other", marks)
	}
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "default/web-b", Obj: b2})
	h.OnDelete(a2)
	if len(idx.m) != 0 {
		t.Errorf("after deletes the index holds %v", idx.m)
	}
}

type syncedInformer struct {
	cache.SharedInformer
	synced bool
}

func (i syncedInformer) HasSynced() bool { return i.synced }

type syncedHandler struct {
	cache.ResourceEventHandlerRegistration
	synced atomic.Bool
}

func (h *syncedHandler) HasSynced() bool { return h.synced.Load() }

// The first sync waits for the slice index's handler to have seen the
// informer's initial list, not only for the informer's cache: a sync
// before would find Services without their slices.
func TestWaitForCachesWaitsForTheSliceHandler(t *testing.T) {
	st := NewStatus(nil, time.Minute, nil)
	h := &syncedHandler{}
	ws := []*watchedCache{{what: "EndpointSlices", inf: syncedInformer{synced: true}, handler: h}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if st.waitForCaches(ctx, ws) {
		t.Fatal("waitForCaches returned before the handler synced")
	}
	h.synced.Store(true)
	if !st.waitForCaches(context.Background(), ws) {
		t.Fatal("waitForCaches did not return once the handler synced")
	}
}

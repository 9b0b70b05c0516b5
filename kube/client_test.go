package kube

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// request is what the test server saw of one request.
type request struct {
	method, path, query, contentType string
	body                             []byte
}

// server answers every GET with the list or object resp returns for its
// path, and records requests.
func server(t *testing.T, resp func(path string) runtime.Object) (*rest.Config, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var seen []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), body})
		mu.Unlock()
		obj := resp(r.URL.Path)
		if obj == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(obj)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}, func() []request { mu.Lock(); defer mu.Unlock(); return append([]request(nil), seen...) }
}

// Each resource is listed at its group's path with the tweaked options,
// and decodes into its typed list.
func TestListWatchPaths(t *testing.T) {
	cfg, seen := server(t, func(path string) runtime.Object {
		switch path {
		case "/api/v1/services":
			return &corev1.ServiceList{TypeMeta: metav1.TypeMeta{Kind: "ServiceList", APIVersion: "v1"},
				Items: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}}}
		case "/apis/discovery.k8s.io/v1/endpointslices":
			return &discoveryv1.EndpointSliceList{TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
				Items: []discoveryv1.EndpointSlice{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1"}}}}
		case "/api/v1/nodes":
			return &corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
				Items: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}}}
		}
		return nil
	})
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		resource, query, name string
	}{
		{"services", "labelSelector=a%3Db", "web"},
		{"endpointslices", "labelSelector=a%3Db", "web-1"},
		{"nodes", "labelSelector=a%3Db", "node-a"},
	} {
		lw := c.ListWatch(tc.resource, func(o *metav1.ListOptions) { o.LabelSelector = "a=b" })
		list, err := lw.(interface {
			ListWithContext(context.Context, metav1.ListOptions) (runtime.Object, error)
		}).ListWithContext(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.resource, err)
		}
		var got string
		switch l := list.(type) {
		case *corev1.ServiceList:
			got = l.Items[0].Name
		case *discoveryv1.EndpointSliceList:
			got = l.Items[0].Name
		case *corev1.NodeList:
			got = l.Items[0].Name
		}
		if got != tc.name {
			t.Errorf("%s: listed %T %q, want %q", tc.resource, list, got, tc.name)
		}
		last := seen()[len(seen())-1]
		if last.query != tc.query {
			t.Errorf("%s: query %q, want %q", tc.resource, last.query, tc.query)
		}
	}
	if err := c.Version(ctx); err == nil {
		t.Error("Version against a server without /version: no error")
	}
}

// Events are written to their own namespace, encoded as the config's
// content type (protobuf, as Run sets it).
func TestEventSink(t *testing.T) {
	cfg, seen := server(t, func(path string) runtime.Object {
		return &corev1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "back"}}
	})
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web.1"}, Reason: "SyncProblem"}
	sink := c.Events()
	if got, err := sink.Create(ev); err != nil || got.Name != "back" {
		t.Fatalf("Create = %v, %v", got, err)
	}
	if _, err := sink.Update(ev); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Patch(ev, []byte(`{"count":2}`)); err != nil {
		t.Fatal(err)
	}
	want := []request{
		{method: "POST", path: "/api/v1/namespaces/shop/events", contentType: "application/vnd.kubernetes.protobuf"},
		{method: "PUT", path: "/api/v1/namespaces/shop/events/web.1", contentType: "application/vnd.kubernetes.protobuf"},
		{method: "PATCH", path: "/api/v1/namespaces/shop/events/web.1", contentType: "application/strategic-merge-patch+json"},
	}
	got := seen()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if g := got[i]; g.method != w.method || g.path != w.path || g.contentType != w.contentType {
			t.Errorf("request %d: %s %s (%s), want %s %s (%s)", i, g.method, g.path, g.contentType, w.method, w.path, w.contentType)
		}
	}
	// The protobuf body decodes back to the Event.
	obj, _, err := codecs.UniversalDeserializer().Decode(got[0].body, nil, nil)
	if err != nil {
		t.Fatalf("decode the POST body: %v", err)
	}
	if e, ok := obj.(*corev1.Event); !ok || e.Reason != "SyncProblem" || e.Namespace != "shop" {
		t.Errorf("POST body decodes to %#v", obj)
	}
}

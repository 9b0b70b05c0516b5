package kube

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Client reaches the API server for the resources ipvs-proxy reads and
// writes. One HTTP client (and so one transport, one connection pool) is
// shared by the per-group REST clients, as client-go's clientset does.
type Client struct {
	core      rest.Interface // /api/v1: services, nodes, events
	discovery rest.Interface // /apis/discovery.k8s.io/v1: endpointslices
}

// New returns a Client for cfg (its ContentType, AcceptContentTypes, QPS,
// Burst, UserAgent and transport wrappers apply to every request).
func New(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	core, err := restClient(cfg, hc, "/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	disc, err := restClient(cfg, hc, "/apis", discoveryv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &Client{core: core, discovery: disc}, nil
}

func restClient(cfg *rest.Config, hc *http.Client, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = codecs.WithoutConversion()
	rc, err := rest.RESTClientForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("API client for %s: %w", gv, err)
	}
	return rc, nil
}

// ListWatch lists and watches resource ("services", "endpointslices" or
// "nodes") in every namespace, with tweak applied to each request's
// options (label and field selectors). Reflectors may use it for watch-list
// streaming, as client-go's typed informers do.
func (c *Client) ListWatch(resource string, tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	return cache.NewFilteredListWatchFromClient(c.client(resource), resource, metav1.NamespaceAll, tweak)
}

func (c *Client) client(resource string) rest.Interface {
	if resource == "endpointslices" {
		return c.discovery
	}
	return c.core
}

// Version asks the API server for its version: a cheap probe of the path
// to it (/healthz's reachability).
func (c *Client) Version(ctx context.Context) error {
	_, err := c.core.Get().AbsPath("/version").Do(ctx).Raw()
	return err
}

// Package kube is ipvs-proxy's API client: REST clients for the kinds the
// proxy watches (Services, EndpointSlices, Nodes) and the Events it
// writes, over a scheme that holds only those API groups.
//
// Not client-go's generated clientset: every typed client of it imports
// k8s.io/client-go/kubernetes/scheme, which links and registers all of
// Kubernetes' ~50 API groups. That was a third of the binary (49 MB, now
// 34 MB) and ~6 MB of the proxy's resident set, for three resources
// (issue #7: half kube-proxy's memory).
package kube

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// Scheme knows core/v1 and discovery.k8s.io/v1 (with the meta/v1 types each
// group serves: lists, options, watch events), and nothing else. Event
// recorders take it to name the objects Events are about.
var Scheme = runtime.NewScheme()

// codecs encodes and decodes JSON, YAML and protobuf for Scheme's types.
var codecs = serializer.NewCodecFactory(Scheme)

func init() {
	utilruntime.Must(corev1.AddToScheme(Scheme))
	utilruntime.Must(discoveryv1.AddToScheme(Scheme))
	// As client-go's scheme: the unversioned meta types (Status, options)
	// for responses that carry no group.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
}

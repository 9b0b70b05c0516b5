package desired

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Labels that keep kube-proxy's informers away from an object.
const (
	// ProxyNameLabel marks Services that another proxy implements.
	ProxyNameLabel = "service.kubernetes.io/service-proxy-name"
	// HeadlessLabel marks the EndpointSlices of headless Services (set by
	// the EndpointSlice controller).
	HeadlessLabel = "service.kubernetes.io/headless"
)

// ProxiedService tells whether ipvs-proxy implements Service svc, with
// kube-proxy's (v1.37) Service informer filter: a Service labelled
// service.kubernetes.io/service-proxy-name is ours only when the label names
// proxyName (kube-proxy has no name and skips every labelled Service;
// proxyName "" does the same). service.kubernetes.io/headless on a Service
// is no filter: kube-proxy programs such a Service when it has a cluster
// IP (test/conformance row headless-label). Pure, so that the informers
// can use it as their filter and ForService as a second guard.
func ProxiedService(svc metav1.Object, proxyName string) bool {
	if name, ok := svc.GetLabels()[ProxyNameLabel]; ok {
		return proxyName != "" && name == proxyName
	}
	return true
}

// ProxiedSlice tells whether ipvs-proxy uses EndpointSlice sl, with
// kube-proxy's EndpointSlice informer filter: slices labelled
// service.kubernetes.io/headless are never used; service-proxy-name on a
// slice is no filter (its Service decides).
func ProxiedSlice(sl metav1.Object) bool {
	_, headless := sl.GetLabels()[HeadlessLabel]
	return !headless
}

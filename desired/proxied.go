package desired

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Labels that keep kube-proxy's informers away from an object.
const (
	// ProxyNameLabel marks Services (and their EndpointSlices) that another
	// proxy implements.
	ProxyNameLabel = "service.kubernetes.io/service-proxy-name"
	// HeadlessLabel marks the EndpointSlices of headless Services (set by
	// the EndpointSlice controller); kube-proxy ignores labelled Services too.
	HeadlessLabel = "service.kubernetes.io/headless"
)

// Proxied tells whether ipvs-proxy implements obj (a Service or an
// EndpointSlice), with kube-proxy's informer filter: objects labelled
// service.kubernetes.io/headless are never ours, and those labelled
// service.kubernetes.io/service-proxy-name are ours only when the label
// names proxyName (kube-proxy has no name and skips every labelled object;
// proxyName "" does the same). It is pure so that the informers can use it
// as their filter and ForService as a second guard.
func Proxied(obj metav1.Object, proxyName string) bool {
	l := obj.GetLabels()
	if _, ok := l[HeadlessLabel]; ok {
		return false
	}
	if name, ok := l[ProxyNameLabel]; ok {
		return proxyName != "" && name == proxyName
	}
	return true
}

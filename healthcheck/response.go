package healthcheck

import (
	"fmt"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
)

// Reply is what one health-check request gets.
type Reply struct {
	Code    int
	Headers map[string]string
	Body    string
}

// Response is kube-proxy's answer for Service svc with localEndpoints ready
// endpoints on this node while the proxy itself is healthy or not: 200 when
// there is a local endpoint and the proxy is healthy, else 503; the
// endpoint count also goes into X-Load-Balancing-Endpoint-Weight. The body
// is kube-proxy's, byte for byte (tab-indented JSON, no final newline).
func Response(svc types.NamespacedName, localEndpoints int, proxyHealthy bool) Reply {
	code := http.StatusServiceUnavailable
	if localEndpoints != 0 && proxyHealthy {
		code = http.StatusOK
	}
	body := fmt.Sprintf("{\n\t\"service\": {\n\t\t\"namespace\": %q,\n\t\t\"name\": %q\n\t},\n\t\"localEndpoints\": %d,\n\t\"serviceProxyHealthy\": %v\n}",
		svc.Namespace, svc.Name, localEndpoints, proxyHealthy)
	return Reply{
		Code: code,
		Headers: map[string]string{
			"Content-Type":                     "application/json",
			"X-Content-Type-Options":           "nosniff",
			"X-Load-Balancing-Endpoint-Weight": strconv.Itoa(localEndpoints),
		},
		Body: body,
	}
}

// write sends r.
func (r Reply) write(w http.ResponseWriter) {
	for k, v := range r.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(r.Code)
	fmt.Fprint(w, r.Body)
}

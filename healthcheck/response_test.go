package healthcheck

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestResponse(t *testing.T) {
	web := types.NamespacedName{Namespace: "default", Name: "web"}
	for _, tc := range []struct {
		name     string
		local    int
		healthy  bool
		wantCode int
	}{
		{"local endpoints, proxy healthy: 200", 2, true, 200},
		{"no local endpoint: 503", 0, true, 503},
		{"local endpoints but the proxy is unhealthy: 503", 3, false, 503},
		{"neither: 503", 0, false, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Response(web, tc.local, tc.healthy)
			if r.Code != tc.wantCode {
				t.Errorf("code %d, want %d", r.Code, tc.wantCode)
			}
			var body struct {
				Service             struct{ Namespace, Name string }
				LocalEndpoints      int
				ServiceProxyHealthy bool
			}
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
			}
			if body.Service.Namespace != "default" || body.Service.Name != "web" || body.LocalEndpoints != tc.local || body.ServiceProxyHealthy != tc.healthy {
				t.Errorf("body %+v", body)
			}
			if r.Headers["Content-Type"] != "application/json" || r.Headers["X-Content-Type-Options"] != "nosniff" {
				t.Errorf("headers %v", r.Headers)
			}
		})
	}
}

// The body is kube-proxy's byte for byte (its dedented template), so
// clients that compare text keep working.
func TestResponseBodyIsKubeProxys(t *testing.T) {
	got := Response(types.NamespacedName{Namespace: "ns", Name: "lb"}, 1, true)
	const want = "{\n\t\"service\": {\n\t\t\"namespace\": \"ns\",\n\t\t\"name\": \"lb\"\n\t},\n\t\"localEndpoints\": 1,\n\t\"serviceProxyHealthy\": true\n}"
	if got.Body != want {
		t.Errorf("body:\n%q\nwant:\n%q", got.Body, want)
	}
	if got.Headers["X-Load-Balancing-Endpoint-Weight"] != "1" {
		t.Errorf("weight header %q", got.Headers["X-Load-Balancing-Endpoint-Weight"])
	}
}

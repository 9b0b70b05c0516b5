package desired

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// "tcp" is refused as the API server refuses it, naming the port, and the
// Service is skipped whole, like any other invalid Service.
func TestLowercaseProtocolIsRefused(t *testing.T) {
	for _, p := range []corev1.Protocol{"tcp", "Udp", "sctp", "ICMP"} {
		st, err := ForService(svc("default/web", "10.96.0.10", port("http", p, 80, 0)), nil, nil, opt)
		if err == nil || !strings.Contains(err.Error(), `Service default/web: port http: protocol "`+string(p)+`" is not supported`) {
			t.Errorf("protocol %q: error = %v", p, err)
		}
		if len(st.Services) != 0 || len(st.Addresses) != 0 || st.Members.Len() != 0 {
			t.Errorf("protocol %q: state is not empty:\n%s", p, dump(st))
		}
	}
	for _, p := range []corev1.Protocol{"", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
		if _, err := ForService(svc("default/web", "10.96.0.10", port("http", p, 80, 0)), nil, nil, opt); err != nil {
			t.Errorf("protocol %q: %v", p, err)
		}
	}
}

// EndpointSlice ports no Service port can use are named in the Service's
// error (once each), and the good ports still give real servers.
func TestBadEndpointSlicePortsAreNamed(t *testing.T) {
	nilPort := func(sl *discoveryv1.EndpointSlice) {
		name := "metrics"
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: &name})
	}
	unnamed := func(sl *discoveryv1.EndpointSlice) {
		p := int32(70000)
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Port: &p})
	}
	s := svc("default/web", "10.96.0.10,fd00::10", tcp("http", 80), tcp("admin", 81))
	slices := []*discoveryv1.EndpointSlice{
		slice("default/web-a", "web", sport("http", corev1.ProtocolTCP, 8080), sport("admin", "tcp", 8081), ep("10.244.1.5")),
		slice("default/web-b", "web", sport("http", corev1.ProtocolTCP, 0), nilPort, unnamed, ep("10.244.1.6")),
	}
	st, err := ForService(s, slices, nil, opt)
	if err == nil {
		t.Fatal("no error")
	}
	want := `Service default/web: ` +
		`EndpointSlice default/web-a: port "admin": protocol "tcp" is not supported (the API server accepts only "TCP", "UDP" and "SCTP", case-sensitive); ` +
		`EndpointSlice default/web-b: port "http": port 0 is not in 1-65535; ` +
		`EndpointSlice default/web-b: port "metrics": has no port number; ` +
		`EndpointSlice default/web-b: port #2: port 70000 is not in 1-65535 (skipped)`
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if got := dump(st); !strings.Contains(got, "10.244.1.5:8080") || strings.Contains(got, "8081") || strings.Contains(got, "10.244.1.6") {
		t.Errorf("state:\n%s", got)
	}
}

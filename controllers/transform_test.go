package controllers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

func fatObjects() (*corev1.Service, *discoveryv1.EndpointSlice, *corev1.Node) {
	svc := service("default/web", "10.96.0.10", port("http", "", 80, 30080), clientIP(600))
	svc.ResourceVersion, svc.UID = "42", "u1"
	svc.Labels = map[string]string{"app": "web"}
	svc.Annotations = map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": `{"big":"blob"}`,
		"ipvs-proxy.io/scheduler":                          "wrr",
		"service.kubernetes.io/topology-mode":              "Auto",
	}
	svc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
	svc.Status.Conditions = []metav1.Condition{{Type: "Ready"}}
	svc.Spec.Selector = map[string]string{"app": "web"}

	sl := epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2")
	sl.ResourceVersion = "7"
	sl.ManagedFields = svc.ManagedFields
	sl.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "now"}
	node := "node-a"
	for i := range sl.Endpoints {
		sl.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "web-x", Namespace: "default"}
		sl.Endpoints[i].NodeName = &node
		sl.Endpoints[i].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}}}
	}

	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"topology.kubernetes.io/zone": "a"}, ManagedFields: svc.ManagedFields},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}, ProviderID: "x"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			Images:    []corev1.ContainerImage{{Names: []string{"big"}}},
		},
	}
	return svc, sl, n
}

// 3. The informer transform drops what the proxy does not read and keeps
// everything it (and the features being added) does.
func TestTrimKeepsWhatTheProxyReads(t *testing.T) {
	svc, sl, node := fatObjects()
	got, _ := trim(svc)
	s := got.(*corev1.Service)
	if len(s.ManagedFields) != 0 || len(s.Status.Conditions) != 0 || s.Spec.Selector != nil {
		t.Errorf("Service kept managedFields, conditions or its selector: %+v", s)
	}
	if svc.Spec.Selector == nil {
		t.Error("trim changed its input")
	}
	wantAnn := map[string]string{"ipvs-proxy.io/scheduler": "wrr", "service.kubernetes.io/topology-mode": "Auto"}
	if !reflect.DeepEqual(s.Annotations, wantAnn) {
		t.Errorf("annotations %v, want %v", s.Annotations, wantAnn)
	}
	spec := svc.Spec
	spec.Selector = nil
	if !reflect.DeepEqual(s.Spec, spec) || !reflect.DeepEqual(s.Status.LoadBalancer, svc.Status.LoadBalancer) ||
		!reflect.DeepEqual(s.Labels, svc.Labels) || s.ResourceVersion != "42" || s.UID != "u1" {
		t.Errorf("Service lost what the proxy reads: %+v", s)
	}

	got, _ = trim(sl)
	e := got.(*discoveryv1.EndpointSlice)
	if len(e.ManagedFields) != 0 || len(e.Annotations) != 0 || e.Endpoints[0].TargetRef != nil {
		t.Errorf("EndpointSlice kept managedFields, annotations or targetRef: %+v", e)
	}
	if sl.Endpoints[0].TargetRef == nil {
		t.Error("trim changed its input")
	}
	if *e.Endpoints[0].NodeName != "node-a" || e.Endpoints[0].Hints == nil || !reflect.DeepEqual(e.Ports, sl.Ports) ||
		e.AddressType != sl.AddressType || !reflect.DeepEqual(e.Labels, sl.Labels) || e.ResourceVersion != "7" {
		t.Errorf("EndpointSlice lost what the proxy reads: %+v", e)
	}

	got, _ = trim(node)
	n := got.(*corev1.Node)
	if len(n.ManagedFields) != 0 || len(n.Status.Images) != 0 || n.Spec.ProviderID != "" {
		t.Errorf("Node kept what the proxy does not read: %+v", n)
	}
	if !reflect.DeepEqual(n.Status.Addresses, node.Status.Addresses) || !reflect.DeepEqual(n.Labels, node.Labels) ||
		!reflect.DeepEqual(n.Spec.PodCIDRs, node.Spec.PodCIDRs) || n.Spec.PodCIDR != node.Spec.PodCIDR {
		t.Errorf("Node lost what the proxy reads: %+v", n)
	}

	// Idempotent, and other objects pass through.
	again, _ := trim(s)
	if !reflect.DeepEqual(again, s) {
		t.Error("trim of a trimmed Service differs")
	}
	pod := &corev1.Pod{}
	if got, _ := trim(pod); got != pod {
		t.Error("trim changed a Pod")
	}
}

// 3. The desired state computed from trimmed objects is the one computed
// from the full objects.
func TestTrimmedObjectsGiveTheSameFragment(t *testing.T) {
	svc, sl, _ := fatObjects()
	ts, _ := trim(svc)
	tsl, _ := trim(sl)
	addrs := desired.NodePortAddresses(nil, dummy, nil)
	opt := desired.OptionsFrom(testConfig())
	want, err := desired.ForService(svc, []*discoveryv1.EndpointSlice{sl}, addrs, opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := desired.ForService(ts.(*corev1.Service), []*discoveryv1.EndpointSlice{tsl.(*discoveryv1.EndpointSlice)}, addrs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := got.Format(dummy), want.Format(dummy); g != w {
		t.Errorf("fragment from trimmed objects:\n%s\nwant:\n%s", g, w)
	}
	if (state.State{}).Format(dummy) == want.Format(dummy) {
		t.Fatal("the fragment is empty: the test proves nothing")
	}
}

// 3. Trimmed endpoints keep their conditions and node names as values
// while sharing the pointers (one bool for every true condition, one node
// name for a run of endpoints on one node), and drop hostname and zone.
func TestTrimSharesEndpointValues(t *testing.T) {
	sl := epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.1.2", "10.244.2.1")
	no, yes := false, true
	nodes := []string{"node-a", "node-a", "node-b"}
	for i := range sl.Endpoints {
		ep := &sl.Endpoints[i]
		ep.NodeName = &nodes[i]
		h, z := "h", "zone-a"
		ep.Hostname, ep.Zone = &h, &z
	}
	sl.Endpoints[1].Conditions = discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}
	got, _ := trim(sl)
	e := got.(*discoveryv1.EndpointSlice)
	for i, ep := range e.Endpoints {
		in := sl.Endpoints[i]
		if ep.Hostname != nil || ep.Zone != nil {
			t.Errorf("endpoint %d kept hostname or zone", i)
		}
		if *ep.NodeName != *in.NodeName || !reflect.DeepEqual(ep.Conditions, in.Conditions) || !reflect.DeepEqual(ep.Addresses, in.Addresses) {
			t.Errorf("endpoint %d: %+v, want the values of %+v", i, ep, in)
		}
	}
	if e.Endpoints[0].NodeName != e.Endpoints[1].NodeName || e.Endpoints[0].Conditions.Ready != e.Endpoints[2].Conditions.Ready {
		t.Error("repeated node name or condition not shared")
	}
	if e.Endpoints[1].Conditions.Serving != e.Endpoints[1].Conditions.Terminating || e.Endpoints[0].Conditions.Serving != nil {
		t.Errorf("conditions %+v", e.Endpoints[1].Conditions)
	}
	if sl.Endpoints[0].Hostname == nil || sl.Endpoints[0].NodeName != &nodes[0] {
		t.Error("trim changed its input")
	}
}

package controllers

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

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
	sl.Labels[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
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
// everything it (and the features being added) does. It trims in place
// (client-go lets a transform change the object it is given: it is the
// decoder's, seen by nobody else yet) and returns the object it was given.
func TestTrimKeepsWhatTheProxyReads(t *testing.T) {
	svc, sl, node := fatObjects()
	// A Service becomes a slimService (slimservice.go); what it expands to
	// is what the proxy reads.
	got, _ := trim(svc.DeepCopy())
	s, ok := got.(*slimService)
	if !ok {
		t.Fatalf("trim gave %T, want *slimService", got)
	}
	e0 := s.expand()
	if len(e0.ManagedFields) != 0 || len(e0.Status.Conditions) != 0 || e0.Spec.Selector != nil || e0.Labels != nil {
		t.Errorf("Service kept managedFields, conditions, its selector or labels: %+v", e0)
	}
	wantAnn := map[string]string{"ipvs-proxy.io/scheduler": "wrr", "service.kubernetes.io/topology-mode": "Auto"}
	if !reflect.DeepEqual(e0.Annotations, wantAnn) {
		t.Errorf("annotations %v, want %v", e0.Annotations, wantAnn)
	}
	if g, w := serviceViewOf(e0), serviceViewOf(svc); !reflect.DeepEqual(g, w) || e0.ResourceVersion != "42" || e0.UID != "u1" {
		t.Errorf("Service lost what the proxy reads: %+v, want %+v", g, w)
	}

	// An EndpointSlice becomes a slimSlice (slimslice.go); what it expands
	// to is what the proxy reads.
	got, _ = trim(sl.DeepCopy())
	slim := got.(*slimSlice)
	if again, _ := trim(slim); again != any(slim) {
		t.Error("trim changed a slimSlice")
	}
	if tt, ok := slim.triggerTime(); ok || tt != (time.Time{}) {
		t.Errorf("trigger time %v from annotation \"now\"", tt)
	}
	e := slim.expand()
	if len(e.ManagedFields) != 0 || len(e.Annotations) != 0 || e.Endpoints[0].TargetRef != nil || len(e.Labels) != 1 {
		t.Errorf("EndpointSlice kept managedFields, annotations or targetRef: %+v", e)
	}
	if *e.Endpoints[0].NodeName != "node-a" || e.Endpoints[0].Hints == nil || !reflect.DeepEqual(e.Ports, sl.Ports) ||
		e.AddressType != sl.AddressType || e.Labels[desired.ServiceNameLabel] != "web" || e.ResourceVersion != "7" {
		t.Errorf("EndpointSlice lost what the proxy reads: %+v", e)
	}

	got, _ = trim(node.DeepCopy())
	n := got.(*corev1.Node)
	if len(n.ManagedFields) != 0 || len(n.Status.Images) != 0 || n.Spec.ProviderID != "" {
		t.Errorf("Node kept what the proxy does not read: %+v", n)
	}
	if !reflect.DeepEqual(n.Status.Addresses, node.Status.Addresses) || !reflect.DeepEqual(n.Labels, node.Labels) ||
		!reflect.DeepEqual(n.Spec.PodCIDRs, node.Spec.PodCIDRs) || n.Spec.PodCIDR != node.Spec.PodCIDR {
		t.Errorf("Node lost what the proxy reads: %+v", n)
	}

	// A Service keeps the labels the informers' filters read.
	svc.Labels[desired.ProxyNameLabel] = "other"
	got, _ = trim(svc.DeepCopy())
	if l := got.(*slimService).GetLabels(); !reflect.DeepEqual(l, map[string]string{desired.ProxyNameLabel: "other"}) {
		t.Errorf("Service labels %v, want only %s", l, desired.ProxyNameLabel)
	}

	// Idempotent, and other objects pass through.
	if again, _ := trim(s); again != any(s) {
		t.Error("trim changed a slimService")
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
	ts, _ := trim(svc.DeepCopy())
	tsl, _ := trim(sl.DeepCopy())
	addrs := desired.NodePortAddresses(nil, dummy, nil)
	opt := desired.OptionsFrom(testConfig())
	want, err := desired.ForService(svc, []*discoveryv1.EndpointSlice{sl}, addrs, opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := desired.ForService(ts.(*slimService).expand(), []*discoveryv1.EndpointSlice{tsl.(*slimSlice).expand()}, addrs, opt)
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
	got, _ := trim(sl.DeepCopy())
	e := got.(*slimSlice).expand()
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
}

// 3. Objects as the API server serves them (each string its own
// allocation) come out of trim with the values they went in with, and
// with what they repeat shared: the namespace, enum values, port names and
// pointers, label keys and the IP-family list are one copy for all
// objects, a ClusterIP is its ClusterIPs[0], a slice's addresses are one
// backing array; the desired state is the same as from the untrimmed
// objects.
func TestTrimSharesWhatObjectsRepeat(t *testing.T) {
	svc1, sl1 := sandboxObjects(0)
	svc2, sl2 := sandboxObjects(2)
	svc1, sl1, svc2, sl2 = served(svc1), served(sl1), served(svc2), served(sl2)
	a, _ := trim(svc1.DeepCopy())
	b, _ := trim(svc2.DeepCopy())
	s1, s2 := a.(*slimService), b.(*slimService)
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q not one copy", what, x, y)
		}
	}
	if unsafe.StringData(svc1.Namespace) == unsafe.StringData(svc2.Namespace) {
		t.Fatal("the served objects share their strings: the test proves nothing")
	}
	same("namespace", s1.Namespace, s2.Namespace)
	same("port name", s1.ports[0].name, s2.ports[0].name)
	same("port protocol", string(s1.ports[0].protocol), string(s2.ports[0].protocol))
	x1 := s1.expand()
	same("cluster IP", x1.Spec.ClusterIP, x1.Spec.ClusterIPs[0])
	if unsafe.StringData(s1.Name) == nil || unsafe.StringData(s1.clusterIPs[0]) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s1.Name)), len(s1.Name)+len(s1.UID)+len(s1.ResourceVersion))) {
		t.Error("name, UID, resource version and cluster IP are not one allocation")
	}
	for _, c := range []struct {
		got  *slimService
		want *corev1.Service
	}{{s1, svc1}, {s2, svc2}} {
		if g, w := serviceViewOf(c.got.expand()), serviceViewOf(c.want); !reflect.DeepEqual(g, w) {
			t.Errorf("trimmed Service %+v, want the values of %+v", g, w)
		}
	}

	a, _ = trim(sl1.DeepCopy())
	b, _ = trim(sl2.DeepCopy())
	e1, e2 := a.(*slimSlice).expand(), b.(*slimSlice).expand()
	same("slice namespace", e1.Namespace, e2.Namespace)
	same("address type", string(e1.AddressType), string(e2.AddressType))
	p1, p2 := e1.Ports[0], e2.Ports[0]
	if p1.Name != p2.Name || p1.Protocol != p2.Protocol || p1.Port != p2.Port {
		t.Error("endpoint port pointers not shared")
	}
	if !reflect.DeepEqual(e1.Ports, sl1.Ports) {
		t.Errorf("ports %v, want %v", e1.Ports, sl1.Ports)
	}
	if e1.Labels[desired.ServiceNameLabel] != "svc-0" || len(e1.Labels) != 1 {
		t.Errorf("slice labels %v", e1.Labels)
	}
	for i, ep := range e1.Endpoints {
		if !reflect.DeepEqual(ep.Addresses, sl1.Endpoints[i].Addresses) || !reflect.DeepEqual(ep.Conditions, sl1.Endpoints[i].Conditions) {
			t.Errorf("endpoint %d: %+v, want the values of %+v", i, ep, sl1.Endpoints[i])
		}
		if base := unsafe.Slice(&e1.Endpoints[0].Addresses[0], len(e1.Endpoints)); &ep.Addresses[0] != &base[i] {
			t.Errorf("endpoint %d's addresses are not in the slice's one backing array", i)
		}
	}

	addrs := desired.NodePortAddresses(nil, dummy, nil)
	opt := desired.OptionsFrom(testConfig())
	want, err := desired.ForService(svc1, []*discoveryv1.EndpointSlice{sl1}, addrs, opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := desired.ForService(x1, []*discoveryv1.EndpointSlice{e1}, addrs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := got.Format(dummy), want.Format(dummy); g != w || g == (state.State{}).Format(dummy) {
		t.Errorf("fragment from trimmed objects:\n%s\nwant (not empty):\n%s", g, w)
	}
}

// 3. pack keeps each string's value and puts them all in one allocation.
func TestPackKeepsValuesInOneString(t *testing.T) {
	a, b, c, empty := strings.Clone("svc-1"), strings.Clone("6f1c2d3e"), strings.Clone("10.96.0.1"), ""
	pack(&a, &b, &empty, &c)
	if a != "svc-1" || b != "6f1c2d3e" || c != "10.96.0.1" || empty != "" {
		t.Fatalf("pack changed values: %q %q %q %q", a, b, empty, c)
	}
	base := unsafe.StringData(a)
	if unsafe.StringData(b) != (*byte)(unsafe.Add(unsafe.Pointer(base), len(a))) ||
		unsafe.StringData(c) != (*byte)(unsafe.Add(unsafe.Pointer(base), len(a)+len(b))) {
		t.Error("the strings are not one allocation")
	}
}

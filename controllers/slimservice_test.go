package controllers

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// serviceView is what desired/ and controllers/ read from a Service (the
// list on slimService), as values: two Services with one view are one
// Service to the proxy. Nil and empty lists read the same everywhere
// (desired/ takes their length) and are one here; the affinity timeout is
// the one desired/ reads (the levels of its config above it are not).
type serviceView struct {
	Name, Namespace, UID, RV string
	Generation               int64
	Created                  time.Time
	ProxyName                *string // label service.kubernetes.io/service-proxy-name
	Headless                 bool    // label service.kubernetes.io/headless present
	Annotations              map[string]string
	Type, ETP, Affinity      string
	ITP                      *string
	ClusterIP                string
	ClusterIPs               []string
	Ports                    []servicePortView
	Timeout                  *int32
	HealthCheckNodePort      int32
	ExternalIPs              []string
	SourceRanges             []string
	Ingress                  []ingressView
}

type servicePortView struct {
	Name, Protocol string
	Port, NodePort int32
}

type ingressView struct {
	IP     string
	IPMode *string
}

func serviceViewOf(s *corev1.Service) serviceView {
	v := serviceView{
		Name: s.Name, Namespace: s.Namespace, UID: string(s.UID), RV: s.ResourceVersion, Generation: s.Generation,
		Created: s.CreationTimestamp.Time.UTC(), Type: string(s.Spec.Type), ETP: string(s.Spec.ExternalTrafficPolicy),
		Affinity: string(s.Spec.SessionAffinity), ClusterIP: s.Spec.ClusterIP, ClusterIPs: orNil(s.Spec.ClusterIPs),
		HealthCheckNodePort: s.Spec.HealthCheckNodePort, ExternalIPs: orNil(s.Spec.ExternalIPs),
		SourceRanges: orNil(s.Spec.LoadBalancerSourceRanges),
	}
	if p, ok := s.Labels[desired.ProxyNameLabel]; ok {
		v.ProxyName = &p
	}
	_, v.Headless = s.Labels[desired.HeadlessLabel]
	for k, a := range s.Annotations {
		for _, p := range keptAnnotationPrefixes {
			if strings.HasPrefix(k, p) {
				if v.Annotations == nil {
					v.Annotations = map[string]string{}
				}
				v.Annotations[k] = a
			}
		}
	}
	if p := s.Spec.InternalTrafficPolicy; p != nil {
		itp := string(*p)
		v.ITP = &itp
	}
	for _, p := range s.Spec.Ports {
		v.Ports = append(v.Ports, servicePortView{string(p.Name), string(p.Protocol), p.Port, p.NodePort})
	}
	if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		t := *c.ClientIP.TimeoutSeconds
		v.Timeout = &t
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		iv := ingressView{IP: in.IP}
		if in.IPMode != nil {
			m := string(*in.IPMode)
			iv.IPMode = &m
		}
		v.Ingress = append(v.Ingress, iv)
	}
	return v
}

func orNil(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// randomService is Service i of a generator that covers every field on
// serviceView, the odd values among them (unknown enums, a clusterIP
// unlike clusterIPs[0], bad addresses, ports out of range, nil apart from
// empty), with ports named as serviceSlice's.
func randomService(r *rand.Rand, i int) *corev1.Service {
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	v6 := r.IntN(3) == 0
	ip := fmt.Sprintf("10.96.%d.%d", i/250%250, i%250+1)
	if v6 {
		ip = fmt.Sprintf("fd00:96::%x", i+1)
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: pick("default", "kube-system", "team-"+fmt.Sprint(i%7)), Name: fmt.Sprintf("svc-%d", i),
			UID: types.UID(fmt.Sprintf("uid-%d", i)), ResourceVersion: fmt.Sprint(1000 + i), Generation: int64(r.IntN(4)),
			Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"},
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceType(pick("", "ClusterIP", "ClusterIP", "NodePort", "LoadBalancer", "LoadBalancer", "ExternalName", "Weird")),
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicy(pick("", "Cluster", "Local", "Local", "local")),
			SessionAffinity:       corev1.ServiceAffinity(pick("", "None", "ClientIP", "ClientIP", "Sticky")),
			ClusterIP:             ip,
			ClusterIPs:            []string{ip},
			Selector:              map[string]string{"app": "x"},
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
		},
	}
	if r.IntN(3) > 0 {
		s.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(1e6)) * time.Second))
	}
	switch r.IntN(10) {
	case 0: // dual stack
		other := fmt.Sprintf("fd00:96::%x", i+1)
		if v6 {
			other = fmt.Sprintf("10.96.%d.%d", i/250%250, i%250+1)
		}
		s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, other)
	case 1: // headless
		s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	case 2: // not allocated yet, or only clusterIP
		s.Spec.ClusterIPs = nil
		if r.IntN(2) == 0 {
			s.Spec.ClusterIP = ""
		}
	case 3: // clusterIP unlike clusterIPs[0]
		s.Spec.ClusterIP = pick("", "10.96.255.1", corev1.ClusterIPNone)
	case 4: // bad text
		s.Spec.ClusterIPs = []string{pick("10.96.0.300", "fe80::1%eth0", "::ffff:10.96.0.1", " 10.96.0.1")}
		s.Spec.ClusterIP = s.Spec.ClusterIPs[0]
	case 5:
		s.Spec.ClusterIPs = []string{}
	}
	for j := range r.IntN(4) {
		p := corev1.ServicePort{
			Name: fmt.Sprintf("p%d", j), Protocol: corev1.Protocol(pick("TCP", "TCP", "UDP", "SCTP", "", "ICMP")),
			Port: int32(80 + j), TargetPort: intstr.FromInt32(8080), AppProtocol: nil,
		}
		if r.IntN(2) == 0 {
			p.NodePort = int32(30000 + i%2000 + j)
		}
		switch r.IntN(30) {
		case 0:
			p.Port = 70000
		case 1:
			p.NodePort = -1
		case 2:
			p.Name = ""
		}
		s.Spec.Ports = append(s.Spec.Ports, p)
	}
	if r.IntN(3) == 0 {
		t := int32(r.IntN(20000))
		switch r.IntN(4) {
		case 0:
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		case 1:
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{}}
		default:
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &t}}
		}
	}
	if r.IntN(2) == 0 {
		itp := corev1.ServiceInternalTrafficPolicy(pick("Cluster", "Local", "Local", "", "(nil)", "Odd"))
		s.Spec.InternalTrafficPolicy = &itp
	}
	if r.IntN(2) == 0 {
		s.Spec.HealthCheckNodePort = []int32{32000, 32001, 0, 70000, -3}[r.IntN(5)]
	}
	if r.IntN(4) == 0 {
		s.Spec.ExternalIPs = []string{pick("192.0.2.10", "2001:db8::10", "192.168.1.10", "bad", " 192.0.2.11")}
		if r.IntN(2) == 0 {
			s.Spec.ExternalIPs = append(s.Spec.ExternalIPs, "192.0.2.12")
		}
	} else if r.IntN(10) == 0 {
		s.Spec.ExternalIPs = []string{}
	}
	if r.IntN(4) == 0 {
		s.Spec.LoadBalancerSourceRanges = []string{pick("203.0.113.0/24", "192.168.1.0/24", "0.0.0.0/0", "2001:db8::/64", "nope", " 198.51.100.0/25 ")}
	}
	if r.IntN(3) == 0 {
		for range 1 + r.IntN(2) {
			in := corev1.LoadBalancerIngress{IP: pick("198.51.100.1", "198.51.100.2", "2001:db8:1::1", "", "x"), Hostname: pick("", "lb.example")}
			switch r.IntN(4) {
			case 0:
				m := corev1.LoadBalancerIPModeProxy
				in.IPMode = &m
			case 1:
				m := corev1.LoadBalancerIPModeVIP
				in.IPMode = &m
			}
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, in)
		}
	}
	switch r.IntN(6) {
	case 0:
		s.Labels[desired.ProxyNameLabel] = pick("mine", "other", "")
	case 1:
		s.Labels[desired.HeadlessLabel] = ""
	}
	switch r.IntN(5) {
	case 0:
		s.Annotations[desired.SchedulerAnnotation] = pick("wrr", "lc", "nope", " sh ")
	case 1:
		s.Annotations[desired.SchedulerFlagsAnnotation] = pick("flag-1,flag-2", "sh-port", "bogus")
	case 2:
		s.Annotations["service.kubernetes.io/topology-mode"] = "Auto"
	}
	return s
}

// serviceSlice is an EndpointSlice for s with ports p0..p3, endpoints on
// this node and another, of s's first family.
func serviceSlice(s *corev1.Service, i int) *discoveryv1.EndpointSlice {
	v6 := len(s.Spec.ClusterIPs) > 0 && strings.Contains(s.Spec.ClusterIPs[0], ":")
	a := func(j int) string {
		if v6 {
			return fmt.Sprintf("fd00:244::%x", i*4+j+1)
		}
		return fmt.Sprintf("10.244.%d.%d", i/250%250, (i*4+j)%250+1)
	}
	sl := epSlice(s.Namespace+"/"+s.Name+"-1", s.Name, "p0", "", 8080, a(0), a(1), a(2))
	if v6 {
		sl.AddressType = discoveryv1.AddressTypeIPv6
	}
	other := "node-b"
	sl.Endpoints[2].NodeName = &other
	for j, proto := range []corev1.Protocol{"UDP", "SCTP", "TCP"} {
		name, port := fmt.Sprintf("p%d", j+1), int32(9000+j)
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port})
	}
	return sl
}

// outcome is everything desired/ and controllers/ derive from one Service,
// as text: two Services with one outcome are one Service to the proxy.
func outcome(svc *corev1.Service, sls []*discoveryv1.EndpointSlice) string {
	var b strings.Builder
	node := desired.NodeAddrs{
		NodePort: []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("2001:db8::a")},
		Local:    []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("192.0.2.12")},
	}
	for _, proxyName := range []string{"", "mine"} {
		opt := desired.OptionsFrom(testConfig())
		opt.ProxyName = proxyName
		st, err := desired.ForServiceOn(svc, sls, node, opt)
		port, local, ok := desired.HealthCheck(svc, sls, "node-a", proxyName)
		fmt.Fprintf(&b, "%s\nerr %v\nhc %d %v %v\nproxied %v\n", st.Format(dummy), err, port, local, ok, desired.ProxiedService(svc, proxyName))
	}
	c := desired.ClaimOf(svc)
	fmt.Fprintf(&b, "claim %v %d %v\nbind %v\n", c.Name, c.Created.UnixNano(), c.Created.IsZero(), desired.BindCandidates(svc))
	return b.String()
}

// A slimService expands to what the Service reads as (serviceView), and
// desired/ builds from the expansion what it builds from the Service (the
// fragment, its problems, the health check, the claim, the addresses to
// bind), over Services covering every field it reads; the filters that
// spare an expansion (mayHealthCheck, mayBind, claim) agree with what
// they stand for.
func TestSlimServiceRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	var rare, errs, fragments int
	for i := range 4000 {
		in := randomService(r, i)
		got, err := trim(in.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		slim, ok := got.(*slimService)
		if !ok {
			t.Fatalf("trim gave %T", got)
		}
		if again, _ := trim(slim); again != any(slim) {
			t.Fatal("trim changed a slimService")
		}
		out := slim.expand()
		if g, w := serviceViewOf(out), serviceViewOf(in); !reflect.DeepEqual(g, w) {
			t.Fatalf("Service %d: expanded slim Service reads\n%+v\nwant\n%+v", i, g, w)
		}
		sls := []*discoveryv1.EndpointSlice{serviceSlice(in, i)}
		g, w := outcome(out, sls), outcome(in, sls)
		if g != w {
			t.Fatalf("Service %d: desired/ builds from the expansion\n%s\nwant\n%s", i, g, w)
		}
		if strings.Contains(w, "err <nil>\n") {
			fragments++
		} else {
			errs++
		}
		if _, _, ok := desired.HealthCheck(in, nil, "node-a", "mine"); ok && !slim.mayHealthCheck() {
			t.Fatalf("Service %d has a health check, mayHealthCheck says none", i)
		}
		if len(desired.BindCandidates(in)) > 0 && !slim.mayBind() {
			t.Fatalf("Service %d has addresses to bind, mayBind says none", i)
		}
		if c, w := slim.claim(), desired.ClaimOf(in); c.Name != w.Name || c.Compare(w) != 0 {
			t.Fatalf("Service %d: claim %+v, want %+v", i, c, w)
		}
		if n, ok := serviceOf(slim); !ok || n != slim.name() || n.Name != in.Name || n.Namespace != in.Namespace {
			t.Fatalf("serviceOf = %v, %v", n, ok)
		}
		if c, ok := slim.DeepCopyObject().(*slimService); !ok || !reflect.DeepEqual(serviceViewOf(c.expand()), serviceViewOf(out)) {
			t.Fatalf("Service %d: DeepCopyObject differs", i)
		}
		if !maps.Equal(slim.GetLabels(), out.Labels) || !maps.Equal(slim.GetAnnotations(), out.Annotations) {
			t.Fatalf("Service %d: metav1.Object labels %v annotations %v, want %v %v", i, slim.GetLabels(), slim.GetAnnotations(), out.Labels, out.Annotations)
		}
		if slim.rare != nil {
			rare++
		}
	}
	if fragments < 1000 || errs < 100 || rare < 1000 {
		t.Fatalf("the generator missed cases: %d fragments, %d with problems, %d with a rare part", fragments, errs, rare)
	}
	t.Logf("4000 Services: %d built without problems, %d with, %d with a rare part", fragments, errs, rare)
}

// The round trip's comparison sees each packed field: changing any one of
// them in a slimService changes what its expansion reads and what desired/
// builds from it.
func TestSlimServiceMutationsShow(t *testing.T) {
	in := service("default/web", "10.96.0.10", port("p0", "", 80, 30080), port("p1", corev1.ProtocolUDP, 53, 0), clientIP(600))
	in.Spec.Type = corev1.ServiceTypeLoadBalancer
	in.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	in.Spec.HealthCheckNodePort = 32000
	in.Spec.ExternalIPs = []string{"192.0.2.10"}
	in.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/24"}
	in.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.51.100.1"}}
	in.Annotations = map[string]string{desired.SchedulerAnnotation: "wrr"}
	in.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	itp := corev1.ServiceInternalTrafficPolicyCluster
	in.Spec.InternalTrafficPolicy = &itp
	sls := []*discoveryv1.EndpointSlice{serviceSlice(in, 1)}
	want := outcome(in, sls)
	for name, mutate := range map[string]func(s *slimService){
		"name":           func(s *slimService) { s.Name = "web2" },
		"created":        func(s *slimService) { s.created++ },
		"type":           func(s *slimService) { s.enums[enumType] = 2 }, // NodePort
		"etp":            func(s *slimService) { s.enums[enumExternalPolicy] = 1 },
		"affinity":       func(s *slimService) { s.enums[enumAffinity] = 1 },
		"itp":            func(s *slimService) { s.enums[enumInternalPolicy] = 2 },
		"cluster IP":     func(s *slimService) { s.clusterIPs = []string{"10.96.0.11"} },
		"port":           func(s *slimService) { s.ports[0].port++ },
		"node port":      func(s *slimService) { s.ports[0].nodePort++ },
		"port name":      func(s *slimService) { s.ports[1].name = "p2" },
		"protocol":       func(s *slimService) { s.ports[1].protocol = corev1.ProtocolTCP },
		"timeout":        func(s *slimService) { s.affinityTimeout++ },
		"health check":   func(s *slimService) { s.healthCheckNodePort++ },
		"external IP":    func(s *slimService) { s.rare.externalIPs = []string{"192.0.2.11"} },
		"source range":   func(s *slimService) { s.rare.sourceRanges = nil },
		"ingress":        func(s *slimService) { s.rare.ingress = nil },
		"annotation":     func(s *slimService) { s.rare.annotations = nil },
		"proxy name":     func(s *slimService) { s.flags |= svcProxyNamed },
		"own cluster IP": func(s *slimService) { s.flags |= svcOwnClusterIP; s.rare.clusterIP = corev1.ClusterIPNone },
	} {
		s := slimServiceOf(in)
		if got := outcome(s.expand(), sls); got != want {
			t.Fatalf("unmutated: %s\nwant\n%s", got, want)
		}
		mutate(s)
		if reflect.DeepEqual(serviceViewOf(s.expand()), serviceViewOf(in)) {
			t.Errorf("%s: the view misses the mutation", name)
		}
		if outcome(s.expand(), sls) == want {
			t.Errorf("%s: desired/ builds the same after the mutation", name)
		}
	}
}

// The Service informer with the transform holds slimServices; the source
// reads them (not expanded: the cached object itself), its updates replace
// the object (fragCache sees them), and keys, tombstones and the handlers
// work on them.
func TestSlimServiceInInformer(t *testing.T) {
	client := fake.NewClientset()
	inf := informer(fakeAPI{client}, "services", &corev1.Service{}, nil) // as Run builds it
	marked := make(chan types.NamespacedName, 16)
	sh := NewStatus(nil, time.Minute, nil).ServiceHandler()
	web := nsn("default/web")
	ctx, waitMark := runMarking(t, inf, handler(func(n types.NamespacedName) { marked <- n }), sh, marked, web)
	src := cacheSource{services: inf.GetStore(), slices: newSliceIndex()}
	svcs := client.CoreV1().Services("default")
	svc := service("default/web", "10.96.0.10", port("http", "", 80, 30080))
	svc.ResourceVersion = "1"
	svc.Annotations = map[string]string{desired.SchedulerAnnotation: "wrr", "other": "x"}
	if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMark("add")
	stored, ok := src.Service(web)
	if !ok {
		t.Fatal("source has no web")
	}
	if objs := inf.GetStore().List(); len(objs) != 1 || objs[0] != any(stored) {
		t.Fatalf("cache holds %v, want the slimService the source gives", objs)
	}
	if l := src.Services(); len(l) != 1 || l[0] != stored {
		t.Errorf("Services = %v", l)
	}
	if g, w := serviceViewOf(stored.expand()), serviceViewOf(svc); !reflect.DeepEqual(g, w) {
		t.Errorf("cached Service reads\n%+v\nwant\n%+v", g, w)
	}

	svc.Spec.Ports[0].NodePort = 30081
	svc.ResourceVersion = "2"
	if _, err := svcs.Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMark("update (old)")
	waitMark("update (new)")
	cur, _ := src.Service(web)
	if cur == stored || cur.ports[0].nodePort != 30081 {
		t.Error("an update kept the cached object: fragCache would miss it")
	}
	fc := newFragCache()
	fc.record(web, stored, nil, "")
	if _, ok := fc.current(web, cur, nil); ok {
		t.Error("fragCache takes the updated Service for the recorded one")
	}
	fc.record(web, cur, nil, "")
	if _, ok := fc.current(web, cur, nil); !ok || fc.staleOne(src, web) {
		t.Error("fragCache takes an unchanged Service for a changed one")
	}

	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMark("delete")
	if _, ok := src.Service(web); ok || len(src.Services()) != 0 {
		t.Error("the source still has web after its delete")
	}
	if !fc.staleOne(src, web) {
		t.Error("a deleted Service's fragment is not stale")
	}

	checkTombstone(t, cur, "default/web", web, marked, waitMark, sh)
}

// A delete the watch missed reaches the handlers as a tombstone at the
// relist, holding the last cached object, a slimService.
func TestSlimServiceTombstoneAtRelist(t *testing.T) {
	client := fake.NewClientset()
	if _, err := client.CoreV1().Services("default").Create(context.Background(), service("default/web", "10.96.0.10", tcp("http", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := expireFirstWatch(client, "services")
	inf := informer(fakeAPI{client}, "services", &corev1.Service{}, nil) // as Run builds it
	deleted, marked := make(chan any, 4), make(chan types.NamespacedName, 4)
	_, waitMark := runMarking(t, inf, handler(func(n types.NamespacedName) { marked <- n }),
		cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { deleted <- obj }}, marked, nsn("default/web"))
	waitMark("add")
	obj, n := tombstoneAtRelist(t, client, first, corev1.SchemeGroupVersion.WithResource("services"), "default", "web", deleted, marked)
	if _, ok := obj.(*slimService); !ok {
		t.Fatalf("tombstone holds %T, want *slimService", obj)
	}
	if n != nsn("default/web") {
		t.Errorf("tombstone marked %v", n)
	}
}

// Deciding that an unchanged Service's fragment is current (the periodic
// refresh's question, every Service of every walk) reads the cached
// object in place: it allocates nothing, so it expands nothing.
func TestStaleOneDoesNotExpand(t *testing.T) {
	fk := newFakeKernel()
	r := newTestReconciler(t, fk)
	src := newSource()
	n := src.put(service("default/web", "10.96.0.10", port("http", "", 80, 30080), clientIP(60)))
	mustFull(t, r, src)
	if r.frags.staleOne(src, n) {
		t.Fatal("an unchanged Service is stale")
	}
	if a := testing.AllocsPerRun(100, func() { r.frags.staleOne(src, n) }); a != 0 {
		t.Errorf("staleOne allocates %v times per call: it expands", a)
	}
	src.put(service("default/web", "10.96.0.10", port("http", "", 80, 30081)))
	if !r.frags.staleOne(src, n) {
		t.Error("a changed Service is current")
	}
}

package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
)

// sliceView is what desired/ and controllers/ read from an EndpointSlice
// (the list on slimSlice), as values: two slices with one view are one
// slice to the proxy. What trim drops (other labels, annotations,
// TargetRef, hostname, zone, addresses past the first, managedFields) is
// not in it.
type sliceView struct {
	Name, Namespace, UID, RV string
	Generation               int64
	Service                  string // label kubernetes.io/service-name
	Headless                 bool   // label service.kubernetes.io/headless present
	AddressType              discoveryv1.AddressType
	Ports                    []portView
	Endpoints                []endpointView
}

type portView struct {
	Name, Protocol, AppProtocol *string
	Port                        *int32
}

type endpointView struct {
	Addr                        *string // Addresses[0], nil when none
	Ready, Serving, Terminating *bool
	Node                        *string
	Hints                       *discoveryv1.EndpointHints
}

func viewOf(sl *discoveryv1.EndpointSlice) sliceView {
	v := sliceView{
		Name: sl.Name, Namespace: sl.Namespace, UID: string(sl.UID), RV: sl.ResourceVersion, Generation: sl.Generation,
		Service: sl.Labels[desired.ServiceNameLabel], Headless: !desired.ProxiedSlice(sl), AddressType: sl.AddressType,
	}
	for _, p := range sl.Ports {
		v.Ports = append(v.Ports, portView{p.Name, (*string)(p.Protocol), p.AppProtocol, p.Port})
	}
	for _, ep := range sl.Endpoints {
		e := endpointView{Ready: ep.Conditions.Ready, Serving: ep.Conditions.Serving, Terminating: ep.Conditions.Terminating,
			Node: ep.NodeName, Hints: ep.Hints}
		if len(ep.Addresses) > 0 {
			e.Addr = &ep.Addresses[0]
		}
		v.Endpoints = append(v.Endpoints, e)
	}
	return v
}

// randomSlice is an EndpointSlice with 0-120 endpoints of family v6 (or,
// now and then, addresses that are not canonical IP addresses), every
// condition nil, true or false, node names set or not, hints or not, 0-3
// addresses per endpoint, several ports with nil names and protocols
// among them, and labels and annotations trim drops.
func randomSlice(r *rand.Rand, i int, v6 bool) *discoveryv1.EndpointSlice {
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	ptr := func(s string) *string { return &s }
	boolPtr := func() *bool {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			b := true
			return &b
		}
		b := false
		return &b
	}
	svc := fmt.Sprintf("svc-%d", i)
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: svc + "-" + pick("abcde", "x", "1"), Namespace: pick("default", "kube-system", "team-a"),
			UID: types.UID(fmt.Sprintf("uid-%d", r.Int())), ResourceVersion: fmt.Sprint(r.IntN(1e6)), Generation: int64(r.IntN(5)),
			Labels:      map[string]string{"app": "x", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"},
			Annotations: map[string]string{"a": "b"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	switch r.IntN(6) {
	case 0: // no service-name label
	case 1:
		sl.Labels[desired.ServiceNameLabel] = "other-" + svc // not a prefix of the name
	default:
		sl.Labels[desired.ServiceNameLabel] = svc
	}
	if r.IntN(8) == 0 {
		sl.Labels[desired.HeadlessLabel] = pick("", "true")
	}
	if r.IntN(8) == 0 {
		sl.Labels[desired.ProxyNameLabel] = "other"
	}
	if v6 {
		sl.AddressType = discoveryv1.AddressTypeIPv6
	}
	if r.IntN(20) == 0 {
		sl.AddressType = discoveryv1.AddressTypeFQDN
	}
	for range r.IntN(4) {
		p := discoveryv1.EndpointPort{}
		if r.IntN(3) > 0 {
			p.Name = ptr(pick("", "http", "dns", "metrics"))
		}
		if r.IntN(3) > 0 {
			pr := corev1.Protocol(pick("TCP", "UDP", "SCTP", "tcp"))
			p.Protocol = &pr
		}
		if r.IntN(6) > 0 {
			n := int32(r.IntN(70000))
			p.Port = &n
		}
		if r.IntN(4) == 0 {
			p.AppProtocol = ptr("http")
		}
		sl.Ports = append(sl.Ports, p)
	}
	addr := func() string {
		if r.IntN(15) == 0 { // what does not pack: kept as given
			return pick("not-an-ip", "010.1.2.3", "fe80::1%eth0", "FD00::1", "web.example.com", "1.2.3.4/32", "")
		}
		if r.IntN(15) == 0 {
			return fmt.Sprintf("::ffff:10.244.%d.%d", r.IntN(256), r.IntN(256))
		}
		if v6 {
			return fmt.Sprintf("fd00:10:244:%x::%x", r.IntN(300), r.IntN(1<<16))
		}
		return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
	}
	nodes := []string{"node-a", "node-b", "a-much-longer-node-name.example.internal"}
	for range r.IntN(121) {
		ep := discoveryv1.Endpoint{
			Conditions: discoveryv1.EndpointConditions{Ready: boolPtr(), Serving: boolPtr(), Terminating: boolPtr()},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: "p"},
			Hostname:   ptr("h"),
		}
		for range r.IntN(4) {
			ep.Addresses = append(ep.Addresses, addr())
		}
		if r.IntN(3) > 0 {
			ep.NodeName = ptr(nodes[r.IntN(len(nodes))])
		}
		if r.IntN(5) == 0 {
			ep.Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-a"}}}
			if r.IntN(2) == 0 {
				ep.Hints.ForNodes = []discoveryv1.ForNode{{Name: "node-a"}}
			}
		}
		sl.Endpoints = append(sl.Endpoints, ep)
	}
	return sl
}

// The slim form round-trips: for many generated EndpointSlices, what
// trim stores, expanded, reads as the slice itself in every field desired/
// and controllers/ read, and desired.ForService computes the same fragment
// and the same problems from it.
func TestSlimSliceRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	var packed, raw, none, eps int
	var batchIn []*discoveryv1.EndpointSlice // expandAll's label maps are shared along a batch
	var batch []*slimSlice
	for i := range 3000 {
		v6 := i%2 == 1
		in := randomSlice(r, i/5, v6) // five in a row for one Service: expandAll shares their label map
		got, err := trim(in.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		slim, ok := got.(*slimSlice)
		if !ok {
			t.Fatalf("trim gave %T", got)
		}
		out := slim.expand()
		if g, w := viewOf(out), viewOf(in); !reflect.DeepEqual(g, w) {
			t.Fatalf("slice %d: expanded slim slice reads\n%+v\nwant\n%+v", i, g, w)
		}
		if again, _ := trim(slim); again != any(slim) {
			t.Fatal("trim changed a slimSlice")
		}
		if desired.ProxiedSlice(slim) != desired.ProxiedSlice(in) || slim.GetLabels()[desired.ServiceNameLabel] != in.Labels[desired.ServiceNameLabel] {
			t.Fatalf("slice %d: the slim slice's own labels %v, want those of %v", i, slim.GetLabels(), in.Labels)
		}
		batchIn, batch = append(batchIn, in), append(batch, slim)
		if len(batch) == 5 {
			for j, sl := range expandAll(batch) {
				if g, w := viewOf(sl), viewOf(batchIn[j]); !reflect.DeepEqual(g, w) {
					t.Fatalf("slice %d of a batch: expandAll reads\n%+v\nwant\n%+v", j, g, w)
				}
			}
			batchIn, batch = batchIn[:0], batch[:0]
		}
		for _, e := range slim.eps {
			switch e.kind {
			case addrV4, addrV6:
				packed++
			case addrRaw:
				raw++
			default:
				none++
			}
		}
		eps += len(slim.eps)

		// desired/ computes the same from either.
		name := in.Labels[desired.ServiceNameLabel]
		if name == "" {
			continue
		}
		ip := "10.96.0.10"
		if v6 {
			ip = "fd00:96::10"
		}
		svc := service(in.Namespace+"/"+name, ip, tcp("http", 80), port("dns", corev1.ProtocolUDP, 53, 30053))
		opt := desired.OptionsFrom(testConfig())
		want, werr := desired.ForService(svc, []*discoveryv1.EndpointSlice{in}, nil, opt)
		have, herr := desired.ForService(svc, []*discoveryv1.EndpointSlice{out}, nil, opt)
		if fmt.Sprint(werr) != fmt.Sprint(herr) || have.Format(dummy) != want.Format(dummy) {
			t.Fatalf("slice %d: ForService differs:\n%s (%v)\nwant\n%s (%v)", i, have.Format(dummy), herr, want.Format(dummy), werr)
		}
	}
	if packed == 0 || raw == 0 || none == 0 {
		t.Fatalf("the generator missed a case: %d packed, %d raw, %d without address", packed, raw, none)
	}
	t.Logf("%d endpoints: %d packed, %d kept as strings, %d without address", eps, packed, raw, none)
}

// Conditions keep nil apart from false (kube-proxy reads a nil Ready or
// Serving as true), in every combination.
func TestSlimSliceConditions(t *testing.T) {
	vals := []*bool{nil, &falseValue, &trueValue}
	sl := epSlice("default/web-1", "web", "http", "", 8080)
	for _, rd := range vals {
		for _, sv := range vals {
			for _, tm := range vals {
				sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.1.1"},
					Conditions: discoveryv1.EndpointConditions{Ready: rd, Serving: sv, Terminating: tm}})
			}
		}
	}
	got := slimOf(sl).expand()
	for i, ep := range got.Endpoints {
		if !reflect.DeepEqual(ep.Conditions, sl.Endpoints[i].Conditions) {
			t.Errorf("endpoint %d: conditions %+v, want %+v", i, ep.Conditions, sl.Endpoints[i].Conditions)
		}
	}
}

// The slim slice works in client-go's informer machinery: the informer
// Run uses (sliceInformer: the transform; sliceIndex: its handler) on a
// fake clientset stores slimSlices, the Source expands them, and adds,
// updates, deletes and deletion tombstones reach the handlers.
func TestSlimSliceInInformer(t *testing.T) {
	client := fake.NewClientset()
	inf := sliceInformer(fakeAPI{client})
	idx := newSliceIndex()
	marked := make(chan types.NamespacedName, 16)
	st := NewStatus(nil, time.Minute, nil)
	sh := st.SliceHandler()
	web := nsn("default/web")
	ctx, waitMark := runMarking(t, inf, idx.handler(func(n types.NamespacedName) { marked <- n }), sh, marked, web)
	src := cacheSource{slices: idx}
	addrsOf := func() []string {
		var out []string
		for _, sl := range src.Slices(web) {
			for _, ep := range sl.Endpoints {
				out = append(out, ep.Addresses...)
			}
		}
		slices.Sort(out)
		return out
	}
	slices := client.DiscoveryV1().EndpointSlices("default")

	sl := epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.2.2")
	sl.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: time.Now().Add(time.Hour).Format(time.RFC3339Nano)}
	if _, err := slices.Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMark("add")
	if got := addrsOf(); strings.Join(got, ",") != "10.244.1.1,10.244.2.2" {
		t.Errorf("after add: %v", got)
	}
	objs := inf.GetIndexer().List()
	if len(objs) != 1 {
		t.Fatalf("cache holds %d objects", len(objs))
	}
	stored, ok := objs[0].(*slimSlice)
	if !ok {
		t.Fatalf("cache holds %T, want *slimSlice", objs[0])
	}
	if refs := src.SliceVersions(web); len(refs) != 1 || refs[0].sl != stored {
		t.Errorf("SliceVersions = %v, want the cached object", refs)
	}
	// The status handler (its own listener) keeps the trigger time: the
	// annotation survives the transform.
	waitFor(t, "SliceHandler keeps the trigger time", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.triggers[web]) == 1
	})

	sl.Endpoints[1].Addresses = []string{"10.244.3.3"}
	sl.ResourceVersion = "2"
	if _, err := slices.Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMark("update (old)")
	waitMark("update (new)")
	if got := addrsOf(); strings.Join(got, ",") != "10.244.1.1,10.244.3.3" {
		t.Errorf("after update: %v", got)
	}
	if refs := src.SliceVersions(web); len(refs) != 1 || refs[0].sl == stored {
		t.Error("an update kept the cached object's identity: fragCache would miss it")
	}

	last, _, _ := inf.GetIndexer().GetByKey("default/web-1")
	if err := slices.Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMark("delete")
	if got := src.Slices(web); len(got) != 0 {
		t.Errorf("after delete: %d slices", len(got))
	}
	if refs := src.SliceVersions(web); refs != nil {
		t.Errorf("after delete: SliceVersions = %v", refs)
	}

	checkTombstone(t, last, "default/web-1", web, marked, waitMark, sh)
	if c, ok := last.(*slimSlice).DeepCopyObject().(*slimSlice); !ok || !reflect.DeepEqual(viewOf(c.expand()), viewOf(last.(*slimSlice).expand())) {
		t.Error("DeepCopyObject differs")
	}
}

// A delete the watch missed reaches the handlers as a tombstone at the
// relist, holding the last cached object, a slimSlice: the informer (with
// its transform) hands it over and the handler marks its Service.
func TestSlimSliceTombstoneAtRelist(t *testing.T) {
	client := fake.NewClientset()
	sl := epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1")
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(context.Background(), sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := expireFirstWatch(client, "endpointslices")
	inf := sliceInformer(fakeAPI{client})
	idx := newSliceIndex()
	deleted, marked := make(chan any, 4), make(chan types.NamespacedName, 4)
	_, waitMark := runMarking(t, inf, idx.handler(func(n types.NamespacedName) { marked <- n }),
		cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { deleted <- obj }}, marked, nsn("default/web"))
	waitMark("add")
	if got := (cacheSource{slices: idx}).Slices(nsn("default/web")); len(got) != 1 {
		t.Fatalf("before the relist: %d slices", len(got))
	}

	// The slice goes while no watch reports it; the watch then expires,
	// and the informer relists.
	obj, n := tombstoneAtRelist(t, client, first, discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), "default", "web-1", deleted, marked)
	if _, ok := obj.(*slimSlice); !ok {
		t.Fatalf("tombstone holds %T, want *slimSlice", obj)
	}
	if n != nsn("default/web") {
		t.Errorf("tombstone marked %v", n)
	}
	if got := (cacheSource{slices: idx}).Slices(nsn("default/web")); len(got) != 0 {
		t.Errorf("after the relist: %d slices", len(got))
	}
}

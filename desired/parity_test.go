package desired

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// forServiceCase is one ForService table row: inputs, expected state and
// the substrings the error must hold (nil = no error).
type forServiceCase struct {
	name    string
	svc     *corev1.Service
	slices  []*discoveryv1.EndpointSlice
	nodes   []netip.Addr
	opt     *Options
	want    want
	wantErr []string
}

func runForService(t *testing.T, tests []forServiceCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opt
			if tt.opt != nil {
				o = *tt.opt
			}
			got, err := ForService(tt.svc, tt.slices, tt.nodes, o)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("want an error containing %q, got none", tt.wantErr)
			case err != nil:
				var oe *ObjectError
				if !errors.As(err, &oe) || oe.Object != "Service "+tt.svc.Namespace+"/"+tt.svc.Name {
					t.Errorf("error %v (%T) is not an *ObjectError about the Service", err, err)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
			}
			assertState(t, got, tt.want.state())
		})
	}
}

func one(rs ...string) map[string]vsWant {
	return map[string]vsWant{"tcp 10.96.0.10:80": {"rr", 0, rs}}
}

var cip = []string{C4 + " 10.96.0.10,tcp:80"}

func hp(ip string) string { return H4 + " " + ip + ",tcp:8080," + ip }

func webSlices(eps ...sliceOpt) []*discoveryv1.EndpointSlice {
	return []*discoveryv1.EndpointSlice{slice("default/web-a", "web", append([]sliceOpt{sport("http", corev1.ProtocolTCP, 8080)}, eps...)...)}
}

// issue #9 item 3: of two copies of one IP:port, the non-terminating one
// wins whatever the slice order.
func TestForServiceDuplicateEndpoints(t *testing.T) {
	term := slice("default/web-old", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5", terminating(true)))
	live := slice("default/web-new", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"), ep("10.244.1.6", terminating(true)))
	liveNotReady := slice("default/web-new", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5", ready(false)))
	var tests []forServiceCase
	for _, order := range [][]*discoveryv1.EndpointSlice{{term, live}, {live, term}} {
		tests = append(tests, forServiceCase{
			name:   "slice " + order[0].Name + " first: the ready copy wins over the terminating one",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: order,
			want:   want{vs: one("10.244.1.5:8080"), addrs: []string{"10.96.0.10"}, mems: append([]string{hp("10.244.1.5")}, cip...)},
		})
	}
	for _, order := range [][]*discoveryv1.EndpointSlice{{term, liveNotReady}, {liveNotReady, term}} {
		tests = append(tests, forServiceCase{
			name:   "a not-ready non-terminating copy (a new pod reusing the IP) hides the terminating one (" + order[0].Name + " first)",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: order,
			want:   want{vs: one(), addrs: []string{"10.96.0.10"}, mems: cip},
		})
	}
	runForService(t, tests)
}

// issue #9 item 4: a missing serving condition reads as true (kube-proxy),
// not as a copy of ready.
func TestForServiceServingNil(t *testing.T) {
	runForService(t, []forServiceCase{{
		name: "not ready, terminating, serving omitted: serving-terminating fallback",
		svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
		slices: webSlices(ep("10.244.1.5", func(e *discoveryv1.Endpoint) {
			e.Conditions = discoveryv1.EndpointConditions{Ready: bp(false), Terminating: bp(true)}
		})),
		want: want{vs: one("10.244.1.5:8080"), addrs: []string{"10.96.0.10"}, mems: append([]string{hp("10.244.1.5")}, cip...)},
	}})
}

// issue #9 item 9: hairpin members only for endpoints on this node.
func TestForServiceHairpinLocalOnly(t *testing.T) {
	runForService(t, []forServiceCase{{
		name:   "remote and node-less endpoints are real servers without hairpin members",
		svc:    svc("default/web", "10.96.0.10", tcp("http", 80)),
		slices: webSlices(ep("10.244.1.5"), ep("10.244.2.6", on("node-b")), ep("10.244.3.7", noNode())),
		want: want{vs: one("10.244.1.5:8080", "10.244.2.6:8080", "10.244.3.7:8080"), addrs: []string{"10.96.0.10"},
			mems: append([]string{hp("10.244.1.5")}, cip...)},
	}})
}

// issue #9 item 8: labelled Services and EndpointSlices are filtered as
// kube-proxy's informers filter them.
func TestForServiceProxiedLabels(t *testing.T) {
	labelled := func(k, v string) sliceOpt {
		return func(sl *discoveryv1.EndpointSlice) { sl.Labels[k] = v }
	}
	runForService(t, []forServiceCase{
		{
			// kube-proxy v1.37 filters Services on service-proxy-name only
			// (test/conformance row headless-label).
			name:   "Service labelled headless but with a cluster IP is programmed",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), label(HeadlessLabel, "")),
			slices: webSlices(ep("10.244.1.5")),
			want:   want{vs: one("10.244.1.5:8080"), addrs: []string{"10.96.0.10"}, mems: append([]string{hp("10.244.1.5")}, cip...)},
		},
		{
			name:   "Service labelled service-proxy-name gets nothing",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), label(ProxyNameLabel, "other")),
			slices: webSlices(ep("10.244.1.5")),
		},
		{
			// kube-proxy v1.37 filters EndpointSlices on headless only
			// (test/conformance row slice-labels).
			name: "EndpointSlices labelled headless are not used, service-proxy-name ones are",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{
				slice("default/web-a", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.5"), labelled(HeadlessLabel, "")),
				slice("default/web-b", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.6"), labelled(ProxyNameLabel, "other")),
				slice("default/web-c", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.7")),
			},
			want: want{vs: one("10.244.1.6:8080", "10.244.1.7:8080"), addrs: []string{"10.96.0.10"}, mems: append([]string{hp("10.244.1.6"), hp("10.244.1.7")}, cip...)},
		},
		{
			name:   "with Options.ProxyName, objects labelled with that name are ours",
			svc:    svc("default/web", "10.96.0.10", tcp("http", 80), label(ProxyNameLabel, "ipvs-proxy")),
			slices: webSlices(ep("10.244.1.5"), labelled(ProxyNameLabel, "ipvs-proxy")),
			opt:    &Options{Scheduler: "rr", NodeName: testNode, ProxyName: "ipvs-proxy"},
			want:   want{vs: one("10.244.1.5:8080"), addrs: []string{"10.96.0.10"}, mems: append([]string{hp("10.244.1.5")}, cip...)},
		},
	})
}

func TestProxied(t *testing.T) {
	for _, tt := range []struct {
		labels    map[string]string
		proxyName string
		svc, sl   bool // ProxiedService, ProxiedSlice
	}{
		{nil, "", true, true},
		{map[string]string{"app": "web"}, "", true, true},
		{map[string]string{HeadlessLabel: ""}, "", true, false},
		{map[string]string{HeadlessLabel: ""}, "ipvs-proxy", true, false},
		{map[string]string{ProxyNameLabel: "other"}, "", false, true},
		{map[string]string{ProxyNameLabel: "other"}, "ipvs-proxy", false, true},
		{map[string]string{ProxyNameLabel: "ipvs-proxy"}, "ipvs-proxy", true, true},
		{map[string]string{ProxyNameLabel: ""}, "", false, true},
	} {
		s := svc("default/web", "10.96.0.10")
		s.Labels = tt.labels
		if got := ProxiedService(s, tt.proxyName); got != tt.svc {
			t.Errorf("ProxiedService(%v, %q) = %v, want %v", tt.labels, tt.proxyName, got, tt.svc)
		}
		if got := ProxiedSlice(s); got != tt.sl {
			t.Errorf("ProxiedSlice(%v) = %v, want %v", tt.labels, got, tt.sl)
		}
	}
}

// issue #8 item 1: addresses that can never work are filtered and named.
func TestForServiceUnusableAddresses(t *testing.T) {
	runForService(t, []forServiceCase{
		{
			name: "multicast, loopback, unspecified, broadcast and link-local endpoints are skipped and named",
			svc:  svc("default/web", "10.96.0.10", tcp("http", 80)),
			slices: webSlices(ep("239.1.1.1"), ep("127.0.0.1"), ep("0.0.0.0"), ep("255.255.255.255"), ep("169.254.1.1"),
				ep("10.244.1.5")),
			want: want{vs: one("10.244.1.5:8080"), addrs: []string{"10.96.0.10"}, mems: append([]string{hp("10.244.1.5")}, cip...)},
			wantErr: []string{"EndpointSlice default/web-a", "239.1.1.1 is multicast", "127.0.0.1 is loopback",
				"0.0.0.0 is unspecified", "255.255.255.255 is broadcast", "169.254.1.1 is link-local", "(skipped)"},
		},
		{
			name: "IPv6 link-local and multicast endpoints are skipped",
			svc:  svc("default/web", "fd00::10", tcp("http", 80)),
			slices: []*discoveryv1.EndpointSlice{slice("default/web-v6", "web", v6(), sport("http", corev1.ProtocolTCP, 8080),
				ep("fe80::1"), ep("ff02::1"), ep("::1"), ep("fd00:244::5"))},
			want: want{vs: map[string]vsWant{"tcp [fd00::10]:80": {"rr", 0, []string{"[fd00:244::5]:8080"}}}, addrs: []string{"fd00::10"},
				mems: []string{C6 + " fd00::10,tcp:80", H6 + " fd00:244::5,tcp:8080,fd00:244::5"}},
			wantErr: []string{"fe80::1 is link-local", "ff02::1 is multicast", "::1 is loopback"},
		},
		{
			name:    "multicast cluster IP: the Service is skipped",
			svc:     svc("default/web", "239.1.1.1", tcp("http", 80)),
			wantErr: []string{"clusterIP 239.1.1.1 is multicast"},
		},
		{
			name:    "loopback cluster IP: the Service is skipped",
			svc:     svc("default/web", "127.0.0.10", tcp("http", 80)),
			wantErr: []string{"clusterIP 127.0.0.10 is loopback"},
		},
	})
}

// issue #9 item 7 and issue #10 item 5: scheduler flags and per-Service
// schedulers.
func TestForServiceScheduler(t *testing.T) {
	vs := func(sched string, flags ipvs.SchedFlags) ipvs.VirtualServer {
		return ipvs.VirtualServer{Key: key("tcp 10.96.0.10:80"), Scheduler: sched, Flags: flags}
	}
	annotated := func(kv ...string) svcOpt {
		return func(s *corev1.Service) {
			s.Annotations = map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				s.Annotations[kv[i]] = kv[i+1]
			}
		}
	}
	mh, err := NewScheduler("mh", nil)
	if err != nil || mh.Flags != ipvs.SchedFlag2 {
		t.Fatalf("NewScheduler(mh) = %v, %v; want mh-port", mh, err)
	}
	for _, tt := range []struct {
		name    string
		opt     Options
		svc     *corev1.Service
		want    ipvs.VirtualServer
		wantErr string
	}{
		{"default scheduler with flags from Options", Options{Scheduler: "mh", SchedulerFlags: ipvs.SchedFlag1 | ipvs.SchedFlag2},
			svc("default/web", "10.96.0.10", tcp("http", 80)), vs("mh", ipvs.SchedFlag1|ipvs.SchedFlag2), ""},
		{"annotation picks lc", opt, svc("default/web", "10.96.0.10", tcp("http", 80), annotated(SchedulerAnnotation, "lc")),
			vs("lc", 0), ""},
		{"annotation mh without flags gets mh-port like kube-proxy", opt,
			svc("default/web", "10.96.0.10", tcp("http", 80), annotated(SchedulerAnnotation, "mh")), vs("mh", ipvs.SchedFlag2), ""},
		{"annotation sh with flags", opt,
			svc("default/web", "10.96.0.10", tcp("http", 80), annotated(SchedulerAnnotation, "sh", SchedulerFlagsAnnotation, "sh-fallback, sh-port")),
			vs("sh", ipvs.SchedFlag1|ipvs.SchedFlag2), ""},
		{"flags annotation alone applies to the default scheduler", Options{Scheduler: "mh", SchedulerFlags: ipvs.SchedFlag2},
			svc("default/web", "10.96.0.10", tcp("http", 80), annotated(SchedulerFlagsAnnotation, "mh-fallback")), vs("mh", ipvs.SchedFlag1), ""},
		{"bad scheduler: default used, Warning names the annotation", opt,
			svc("default/web", "10.96.0.10", tcp("http", 80), annotated(SchedulerAnnotation, "fastest")), vs("rr", 0), `ipvs-proxy.io/scheduler="fastest"`},
		{"flag of another scheduler: default used, Warning", opt,
			svc("default/web", "10.96.0.10", tcp("http", 80), annotated(SchedulerAnnotation, "rr", SchedulerFlagsAnnotation, "mh-port")), vs("rr", 0), `"mh-port"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ForService(tt.svc, nil, nil, tt.opt)
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if len(got.Services) != 1 {
				t.Fatalf("want the virtual server despite a bad annotation, got %d", len(got.Services))
			}
			for _, s := range got.Services {
				if s.VirtualServer != tt.want {
					t.Errorf("virtual server %s, want %s", s.VirtualServer, tt.want)
				}
			}
		})
	}
}

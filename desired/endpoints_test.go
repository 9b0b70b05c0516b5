package desired

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pickByMap is pick as it was written first: a map from address:port to
// the best copy so far, in slice order. pick must choose the same copies.
func (p *endpointPicker) pickByMap(v4 bool, sp corev1.ServicePort) []endpoint {
	want := discoveryv1.AddressTypeIPv6
	if v4 {
		want = discoveryv1.AddressTypeIPv4
	}
	proto := cmp.Or(sp.Protocol, corev1.ProtocolTCP)
	byKey := map[netip.AddrPort]endpoint{}
	for _, sl := range p.slices {
		if sl.AddressType != want || !ProxiedSlice(sl) {
			continue
		}
		port, ok := slicePort(sl, sp.Name, proto)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			e, ok := p.endpoint(sl, ep, v4)
			if !ok {
				continue
			}
			e.port = port
			k := netip.AddrPortFrom(e.addr, e.port)
			if old, dup := byKey[k]; dup && !better(e, old) {
				continue
			}
			byKey[k] = e
		}
	}
	out := make([]endpoint, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(a.addr.Compare(b.addr), cmp.Compare(a.port, b.port))
	})
	return out
}

// Random slices full of copies (few addresses, random conditions, node
// names and slice names, two port numbers, both families): the copies pick
// keeps are the ones a map of the best copy so far keeps.
func TestPickMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bools := []*bool{nil, new(bool), func() *bool { b := true; return &b }()}
	for seed := range 500 {
		var sls []*discoveryv1.EndpointSlice
		for i := range 1 + r.IntN(4) {
			name, proto := "http", corev1.ProtocolTCP
			port := int32(8080 + r.IntN(2))
			sl := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("s-%d", r.IntN(3)+i%2)},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
			}
			if r.IntN(3) == 0 {
				sl.AddressType = discoveryv1.AddressTypeIPv6
			}
			for range r.IntN(8) {
				a := fmt.Sprintf("10.0.0.%d", 1+r.IntN(4))
				if sl.AddressType == discoveryv1.AddressTypeIPv6 {
					a = fmt.Sprintf("fd00::%d", 1+r.IntN(4))
				}
				node := fmt.Sprintf("node-%d", r.IntN(3))
				sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
					Addresses: []string{a},
					NodeName:  &node,
					Conditions: discoveryv1.EndpointConditions{
						Ready: bools[r.IntN(3)], Serving: bools[r.IntN(3)], Terminating: bools[r.IntN(3)],
					},
				})
			}
			sls = append(sls, sl)
		}
		sp := corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}
		for _, v4 := range []bool{true, false} {
			p := endpointPicker{slices: sls, bad: map[string]struct{}{}}
			q := endpointPicker{slices: sls, bad: map[string]struct{}{}}
			got, want := p.pick(v4, sp), q.pickByMap(v4, sp)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d v4=%v: pick\n%+v\nmap\n%+v", seed, v4, got, want)
			}
		}
	}
}

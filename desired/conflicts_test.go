package desired

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

func hasRS(rs state.RealServers, s string) bool {
	ap := netip.MustParseAddrPort(s)
	return rs.Has(ipvs.RealServerKey{Address: ap.Addr(), Port: ap.Port()})
}

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func created(t time.Time) svcOpt {
	return func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(t) }
}

func TestClaimCompare(t *testing.T) {
	c := func(ns string, at time.Time) Claim {
		n, name, _ := cutNS(ns)
		return Claim{Name: types.NamespacedName{Namespace: n, Name: name}, Created: at}
	}
	sorted := []Claim{
		c("z/z", t0),                  // oldest wins whatever its name
		c("a/b", t0.Add(time.Second)), // same second: namespace, then name
		c("a/c", t0.Add(time.Second)),
		c("b/a", t0.Add(time.Second)),
		c("a/a", t0.Add(time.Minute)),
	}
	for i := range sorted {
		for j := range sorted {
			if got, want := sorted[i].Compare(sorted[j]), cmpInt(i, j); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
}

func cutNS(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Whatever order the Index sees them in, the older Service has the
// contested virtual server, and the conflict names both; Build (plan) says
// the same.
func TestConflictWinnerIsDeterministic(t *testing.T) {
	nodes := addrs("192.168.1.10")
	older := svc("prod/web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort), created(t0))
	newer := svc("dev/web", "10.96.0.11", port("http", corev1.ProtocolTCP, 80, 30080), typ(corev1.ServiceTypeNodePort), created(t0.Add(time.Hour)))
	olderSlice := slice("prod/web-1", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.1.1"))
	newerSlice := slice("dev/web-1", "web", sport("http", corev1.ProtocolTCP, 8080), ep("10.244.2.2"))
	fOld := frag(t, older, []*discoveryv1.EndpointSlice{olderSlice}, nodes)
	fNew := frag(t, newer, []*discoveryv1.EndpointSlice{newerSlice}, nodes)
	k := key("tcp 192.168.1.10:30080")
	wantMsg := "Service prod/web and Service dev/web both want virtual server TCP 192.168.1.10:30080; Service prod/web has them (created first, or at the same time and first by namespace/name), Service dev/web gets none of them"

	for _, order := range [][]int{{0, 1}, {1, 0}} {
		ix := NewIndex()
		claims := []Claim{ClaimOf(older), ClaimOf(newer)}
		frags := []state.State{fOld, fNew}
		for _, i := range order {
			ix.SetClaim(claims[i], frags[i])
		}
		if got := ix.Owners(k); !slices.Equal(got, []types.NamespacedName{nn("prod/web"), nn("dev/web")}) {
			t.Errorf("order %v: Owners = %v, want the older first", order, got)
		}
		rs := ix.All().Services[k].RealServers
		if rs.Len() != 1 || !hasRS(rs, "10.244.1.1:8080") {
			t.Errorf("order %v: real servers of %v = %v, want only the older Service's", order, k, rs)
		}
		cs := ix.ConflictsAll()
		if len(cs) != 1 || cs[0].Error() != wantMsg {
			t.Errorf("order %v: conflicts = %v", order, cs)
		}
		sc := state.NewScope()
		sc.Services[k] = struct{}{}
		if cs := ix.Conflicts(sc); len(cs) != 1 || cs[0].Winner != nn("prod/web") || cs[0].Loser != nn("dev/web") {
			t.Errorf("order %v: Conflicts(scope) = %v", order, cs)
		}
		// Set without a claim keeps the Service's creation time.
		ix.Set(nn("prod/web"), fOld)
		if got := ix.Owners(k); got[0] != nn("prod/web") {
			t.Errorf("order %v: after Set, Owners = %v", order, got)
		}
	}

	// Build: the same winner, whichever comes first by name.
	st, errs := Build(Input{Services: []*corev1.Service{newer, older}, Slices: []*discoveryv1.EndpointSlice{newerSlice, olderSlice}, NodeAddresses: nodes}, opt)
	if len(errs) != 1 || errs[0].Error() != wantMsg {
		t.Errorf("Build errors = %v", errs)
	}
	if rs := st.Services[k].RealServers; rs.Len() != 1 || !hasRS(rs, "10.244.1.1:8080") {
		t.Errorf("Build: real servers = %v", rs)
	}
	// Untouched: each ClusterIP is its own Service's.
	if rs := st.Services[key("tcp 10.96.0.11:80")].RealServers; !hasRS(rs, "10.244.2.2:8080") {
		t.Errorf("Build: the loser's ClusterIP lost its real servers: %v", rs)
	}
}

func TestConflictMessageListsAFew(t *testing.T) {
	c := &Conflict{Winner: nn("a/x"), Loser: nn("b/y")}
	for _, s := range []string{"tcp 10.0.0.1:80", "tcp 10.0.0.2:80", "udp 10.0.0.3:53", "tcp 10.0.0.4:80", "tcp 10.0.0.5:80"} {
		c.Keys = append(c.Keys, key(s))
	}
	want := "Service a/x and Service b/y both want virtual servers TCP 10.0.0.1:80, TCP 10.0.0.2:80, UDP 10.0.0.3:53 and 2 more; Service a/x has them (created first, or at the same time and first by namespace/name), Service b/y gets none of them"
	if c.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", c.Error(), want)
	}
}

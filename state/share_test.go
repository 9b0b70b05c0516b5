package state

import (
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// shareFixture is a cache holding what desired holds for one virtual server
// and something else for another.
func shareFixture() (cache, desired State, same, other ipvs.Key) {
	same, other = k(ipvs.TCP, "10.96.0.10:80"), k(ipvs.TCP, "10.96.0.11:80")
	cache, desired = New(), New()
	for _, s := range []*State{&cache, &desired} {
		s.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
		s.AddRealServer(same, rs("10.244.1.5:8080", 1))
		s.AddRealServer(same, rs("10.244.1.6:8080", 1))
		s.AddService(vs(ipvs.TCP, "10.96.0.11:80", "rr", 0))
	}
	cache.AddRealServer(other, rs("10.244.1.7:8080", 1))
	desired.AddRealServer(other, rs("10.244.1.8:8080", 1))
	return cache, desired, same, other
}

func TestShareTakesEqualRealServers(t *testing.T) {
	cache, desired, same, other := shareFixture()
	if n := cache.Share(desired); n != 1 {
		t.Fatalf("Share = %d, want 1", n)
	}
	if !cache.Services[same].RealServers.Shares(desired.Services[same].RealServers) {
		t.Error("equal real servers not shared")
	}
	if cache.Services[other].RealServers.Shares(desired.Services[other].RealServers) {
		t.Error("different real servers shared")
	}
	if n := cache.Share(desired); n != 0 {
		t.Errorf("Share again = %d, want 0 (already shared)", n)
	}
}

// Every change to a shared map goes to a copy: the desired state (the
// index's read-only fragments) never changes under the cache.
func TestShareCopiesOnWrite(t *testing.T) {
	for name, change := range map[string]func(s *State, k ipvs.Key){
		"add real server":    func(s *State, k ipvs.Key) { s.AddRealServer(k, rs("10.244.1.9:8080", 1)) },
		"update real server": func(s *State, k ipvs.Key) { s.AddRealServer(k, rs("10.244.1.5:8080", 0)) },
		"delete real server": func(s *State, k ipvs.Key) {
			Op{Kind: DeleteRealServer, Service: ipvs.VirtualServer{Key: k}, RealServer: rs("10.244.1.5:8080", 1)}.ApplyTo(s)
		},
		"merge": func(s *State, k ipvs.Key) {
			o := New()
			o.AddService(vs(ipvs.TCP, "10.96.0.10:80", "rr", 0))
			o.AddRealServer(k, rs("10.244.1.9:8080", 1))
			s.Merge(o)
		},
		"new settings, then a real server": func(s *State, k ipvs.Key) {
			s.Services[k] = s.Services[k].WithVirtualServer(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 0))
			s.AddRealServer(k, rs("10.244.1.9:8080", 1))
		},
	} {
		t.Run(name, func(t *testing.T) {
			cache, desired, same, _ := shareFixture()
			before := desired.Services[same].RealServers.Clone()
			cache.Share(desired)
			change(&cache, same)
			if !desired.Services[same].RealServers.Equal(before) {
				t.Errorf("desired changed with the cache: %v", desired.Services[same].RealServers)
			}
			if cache.Services[same].RealServers.Equal(before) {
				t.Error("the cache did not change")
			}
		})
	}
}

// WithVirtualServer leaves the Service it copies as it was.
func TestWithVirtualServerCopiesOnWrite(t *testing.T) {
	cache, _, same, _ := shareFixture()
	old := cache.Services[same]
	before := old.RealServers.Clone()
	cache.Services[same] = old.WithVirtualServer(vs(ipvs.TCP, "10.96.0.10:80", "wrr", 0))
	cache.AddRealServer(same, rs("10.244.1.9:8080", 1))
	if !old.RealServers.Equal(before) || cache.Services[same].RealServers.Len() != 3 {
		t.Errorf("old %v, new %v", old.RealServers, cache.Services[same].RealServers)
	}
}

// A Service added shared is copied before its first change.
func TestAddSharedCopiesOnWrite(t *testing.T) {
	_, desired, same, _ := shareFixture()
	before := desired.Services[same].RealServers.Clone()
	s := New()
	s.AddShared(desired.Services[same].VirtualServer, desired.Services[same].RealServers)
	if !s.Services[same].RealServers.Shares(desired.Services[same].RealServers) {
		t.Fatal("not shared")
	}
	s.AddRealServer(same, rs("10.244.1.9:8080", 1))
	if !desired.Services[same].RealServers.Equal(before) || s.Services[same].RealServers.Len() != 3 {
		t.Errorf("desired %v, s %v", desired.Services[same].RealServers, s.Services[same].RealServers)
	}
}

// A cold apply adds a virtual server's real servers in the index's order:
// after ShareFirst the cache's list is a view of the index's that each add
// lengthens without a copy, ending shared (Shares); any other change copies
// first, and the index's list never changes.
func TestShareFirstView(t *testing.T) {
	v := vs(ipvs.TCP, "10.96.0.1:80", "rr", 0)
	want := New()
	want.AddService(v)
	all := []ipvs.RealServer{rs("10.244.0.1:80", 1), rs("10.244.0.2:80", 1), rs("10.244.0.3:80", 1), rs("10.244.0.4:80", 1)}
	for _, r := range all {
		want.AddRealServer(v.Key, r)
	}
	w := want.Services[v.Key]
	before := w.RealServers.String()

	cache := New()
	cache.AddService(v)
	cache.AddRealServer(v.Key, all[0])
	if !cache.ShareFirst(v.Key, w) {
		t.Fatal("ShareFirst refused the first real server")
	}
	for _, r := range all[1:] {
		cache.AddRealServer(v.Key, r)
	}
	got := cache.Services[v.Key]
	if !got.RealServers.Shares(w.RealServers) {
		t.Fatalf("cache list %s does not share the index's %s (it was copied)", got.RealServers, w.RealServers)
	}
	// Changes copy first.
	cache.AddRealServer(v.Key, rs("10.244.0.2:80", 5))
	cache.AddRealServer(v.Key, rs("10.244.0.9:80", 1))
	Op{Kind: DeleteRealServer, Service: v, RealServer: all[0]}.ApplyTo(&cache)
	if got, want := cache.Services[v.Key].RealServers.String(), "[10.244.0.2:80 w5 f0, 10.244.0.3:80 w1 f0, 10.244.0.4:80 w1 f0, 10.244.0.9:80 w1 f0]"; got != want {
		t.Errorf("cache list %s, want %s", got, want)
	}
	if after := w.RealServers.String(); after != before {
		t.Errorf("index list changed: %s -> %s", before, after)
	}

	// Not the first real server, or out of order: no view, a copy.
	c2 := New()
	c2.AddService(v)
	c2.AddRealServer(v.Key, all[1])
	if c2.ShareFirst(v.Key, w) {
		t.Error("ShareFirst shared a list that is not a prefix")
	}
	c3 := New()
	c3.AddService(v)
	c3.AddRealServer(v.Key, all[0])
	c3.ShareFirst(v.Key, w)
	c3.AddRealServer(v.Key, all[2]) // skips all[1]: the view cannot hold it
	if got := c3.Services[v.Key].RealServers.String(); got != "[10.244.0.1:80 w1 f0, 10.244.0.3:80 w1 f0]" {
		t.Errorf("out-of-order add: %s", c3.Services[v.Key].RealServers)
	}
	if after := w.RealServers.String(); after != before {
		t.Errorf("index list changed: %s -> %s", before, after)
	}
}

package controllers

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// The list's compare hands on only the differences: what is listed and
// cached alike is queued (in the kernel's order) and nothing else.
func TestDiffServices(t *testing.T) {
	vs := func(s, sched string) ipvs.VirtualServer { return ipvs.VirtualServer{Key: mustKey(s), Scheduler: sched} }
	same, changed := vs("tcp 10.96.0.1:80", "rr"), vs("tcp 10.96.0.2:80", "rr")
	gone, unknown := vs("tcp 10.96.0.3:80", "rr"), vs("udp 10.96.0.4:53", "rr")
	listed := []ipvs.VirtualServer{unknown, vs("tcp 10.96.0.2:80", "lc"), same}
	d := diffServices(listed, []ipvs.VirtualServer{same, gone, changed})
	if !slices.Equal(d.changed, []ipvs.VirtualServer{listed[1]}) {
		t.Errorf("changed %v, want the listed %v", d.changed, listed[1])
	}
	if !slices.Equal(d.unknown, []ipvs.VirtualServer{unknown}) || !slices.Equal(d.cacheOnly, []ipvs.Key{gone.Key}) {
		t.Errorf("unknown %v, cache only %v: want %v and %v", d.unknown, d.cacheOnly, unknown, gone.Key)
	}
	if want := []ipvs.Key{changed.Key, same.Key}; !slices.Equal(d.known, want) || len(d.queued) != 2 {
		t.Errorf("known %v (queued %v), want %v", d.known, d.queued, want)
	}
	if d := diffServices(nil, nil); len(d.known)+len(d.unknown)+len(d.changed)+len(d.cacheOnly) != 0 {
		t.Errorf("empty: %+v", d)
	}
}

// The addresses' compare hands on what only the link has and what only
// the cache has.
func TestDiffAddresses(t *testing.T) {
	a := netip.MustParseAddr
	d := diffAddresses([]netip.Addr{a("10.96.0.1"), a("10.96.0.9"), a("fd00::1")}, []netip.Addr{a("fd00::1"), a("10.96.0.2"), a("10.96.0.1")})
	if !slices.Equal(d.kernelOnly, []netip.Addr{a("10.96.0.9")}) || !slices.Equal(d.cacheOnly, []netip.Addr{a("10.96.0.2")}) {
		t.Errorf("link only %v, cache only %v: want 10.96.0.9 and 10.96.0.2", d.kernelOnly, d.cacheOnly)
	}
}

// What the kernel has and the cache does not know is judged by the ledger:
// a virtual server and an address it records (the cache lost them) are
// taken back into the cache as drift and audited, a stranger's are noted
// foreign and left alone; alike in the step and off the loop.
func TestAuditJudgesUnknownByLedger(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "in the step", true: "off the loop"}[async], func(t *testing.T) {
			fk, r, _ := auditFixture(t, async)
			stranger := ipvs.VirtualServer{Key: mustKey("tcp 10.1.2.3:80"), Scheduler: "rr"}
			if err := fk.ipvs.AddVirtualServer(stranger); err != nil {
				t.Fatal(err)
			}
			if err := fk.links.AddAddress(dummy, stranger.Address); err != nil {
				t.Fatal(err)
			}
			want := fk.dump()
			dns := mustKey("udp 10.96.0.53:53")
			delete(r.cache.Services, dns)
			delete(r.cache.Addresses, dns.Address)
			r.foreign = map[ipvs.Key]struct{}{}
			fk.resetCalls()
			drift, repairs, _ := auditRound(t, r, 1)
			if drift != 2 || repairs != 0 {
				t.Errorf("drift %d, repairs %d: want 2 (dns's virtual server and address taken back), none", drift, repairs)
			}
			if _, ok := r.foreign[stranger.Key]; !ok || len(r.foreign) != 1 {
				t.Errorf("foreign %v, want only %s", r.foreign, stranger.Key)
			}
			// dns's real servers: read when taken back, and by its slice.
			if c := fk.ipvs.Calls(); c.RealServers != 4 {
				t.Errorf("real-server dumps %d, want 4 (3 slices + dns taken back)", c.RealServers)
			}
			assertText(t, "kernel", fk.dump(), want)
			assertCacheTruthful(t, r)
		})
	}
}

package drain

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

var (
	t0   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tcp  = key(ipvs.TCP, "10.96.0.10:80")
	udp  = key(ipvs.UDP, "10.96.0.10:53")
	sctp = key(ipvs.SCTP, "10.96.0.10:9999")
	a    = rs("10.244.1.5:8080", 1)
	b    = rs("10.244.2.7:8080", 1)
)

func key(p ipvs.Protocol, ap string) ipvs.Key {
	x := netip.MustParseAddrPort(ap)
	return ipvs.Key{Protocol: p, Address: x.Addr(), Port: x.Port()}
}

func rs(ap string, w int) ipvs.RealServer {
	x := netip.MustParseAddrPort(ap)
	return ipvs.RealServer{RealServerKey: ipvs.RealServerKey{Address: x.Addr(), Port: x.Port()}, Weight: w}
}

func weight(r ipvs.RealServer, w int) ipvs.RealServer { r.Weight = w; return r }

func op(k ipvs.Key, r ipvs.RealServer) state.RealServerOp {
	return state.RealServerOp{Service: k, RealServer: r}
}

func known(m map[ipvs.RealServerKey]ipvs.Conns) Conns {
	return func(_ ipvs.Key, r ipvs.RealServerKey) (ipvs.Conns, bool) { return m[r], true }
}

func TestApply(t *testing.T) {
	busy := known(map[ipvs.RealServerKey]ipvs.Conns{a.RealServerKey: {Active: 1}, b.RealServerKey: {Inactive: 3}})
	for _, tc := range []struct {
		name    string
		tracked []state.RealServerOp // draining before, since t0
		now     time.Time
		bound   time.Duration
		conns   Conns
		plan    state.Plan
		want    string // the plan after Apply
		after   string // the Tracker after Apply
	}{{
		name:  "TCP real server with unknown counts drains at weight 0",
		plan:  state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, a)}},
		want:  "-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0\n",
		after: "-t 10.96.0.10:80 -r 10.244.1.5:8080 since 2026-01-02T03:04:05Z\n",
	}, {
		name:  "TCP real server with connections drains",
		conns: busy,
		plan:  state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, b)}},
		want:  "-e -t 10.96.0.10:80 -r 10.244.2.7:8080 -m -w 0\n",
		after: "-t 10.96.0.10:80 -r 10.244.2.7:8080 since 2026-01-02T03:04:05Z\n",
	}, {
		name:  "TCP real server known to have no connection goes at once",
		conns: known(nil),
		plan:  state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, a)}},
		want:  "-d -t 10.96.0.10:80 -r 10.244.1.5:8080\n",
	}, {
		name: "UDP and SCTP real servers go at once",
		plan: state.Plan{DeleteRealServers: []state.RealServerOp{op(udp, a), op(sctp, a)}},
		want: "-d -u 10.96.0.10:53 -r 10.244.1.5:8080\n-d --sctp-service 10.96.0.10:9999 -r 10.244.1.5:8080\n",
	}, {
		name:    "draining server is not deleted again (the cache does not fight the drain)",
		tracked: []state.RealServerOp{op(tcp, a)},
		now:     t0.Add(time.Hour),
		plan:    state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, weight(a, 0))}},
		want:    "",
		after:   "-t 10.96.0.10:80 -r 10.244.1.5:8080 since 2026-01-02T03:04:05Z\n",
	}, {
		name:  "after a restart: weight 0 and not desired is draining, not re-weighted, not deleted",
		conns: busy,
		plan:  state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, weight(a, 0))}},
		want:  "",
		after: "-t 10.96.0.10:80 -r 10.244.1.5:8080 since 2026-01-02T03:04:05Z\n",
	}, {
		name:    "bound passed: deleted even with connections",
		tracked: []state.RealServerOp{op(tcp, a)},
		now:     t0.Add(time.Minute),
		bound:   time.Minute,
		conns:   busy,
		plan:    state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, weight(a, 0))}},
		want:    "-d -t 10.96.0.10:80 -r 10.244.1.5:8080\n",
	}, {
		name:    "bound not passed yet",
		tracked: []state.RealServerOp{op(tcp, a)},
		now:     t0.Add(time.Minute - time.Second),
		bound:   time.Minute,
		conns:   busy,
		plan:    state.Plan{DeleteRealServers: []state.RealServerOp{op(tcp, weight(a, 0))}},
		want:    "",
		after:   "-t 10.96.0.10:80 -r 10.244.1.5:8080 since 2026-01-02T03:04:05Z\n",
	}, {
		name:    "endpoint comes back: restored to weight 1 in place, no longer draining",
		tracked: []state.RealServerOp{op(tcp, a), op(tcp, b)},
		plan:    state.Plan{UpdateRealServers: []state.RealServerOp{op(tcp, a)}},
		want:    "-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n",
		after:   "-t 10.96.0.10:80 -r 10.244.2.7:8080 since 2026-01-02T03:04:05Z\n",
	}, {
		name:    "virtual server deleted: its draining servers are forgotten",
		tracked: []state.RealServerOp{op(tcp, a), op(tcp, b)},
		plan:    state.Plan{DeleteServices: []ipvs.Key{tcp}},
		want:    "-D -t 10.96.0.10:80\n",
	}, {
		name: "weight-0 edits merge sorted with the plan's own",
		plan: state.Plan{
			UpdateRealServers: []state.RealServerOp{op(tcp, weight(b, 1))},
			DeleteRealServers: []state.RealServerOp{op(tcp, a), op(udp, b)},
		},
		want:  "-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0\n-e -t 10.96.0.10:80 -r 10.244.2.7:8080 -m -w 1\n-d -u 10.96.0.10:53 -r 10.244.2.7:8080\n",
		after: "-t 10.96.0.10:80 -r 10.244.1.5:8080 since 2026-01-02T03:04:05Z\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for _, o := range tc.tracked {
				tr.add(o.Service, o.RealServer.RealServerKey, t0)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			before := tc.plan.String()
			got := Apply(tc.plan, tr, now, tc.bound, tc.conns)
			if got.String() != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			if tr.String() != tc.after {
				t.Errorf("tracker:\n%s\nwant:\n%s", tr, tc.after)
			}
			if tr.Len() != strings.Count(tc.after, "\n") {
				t.Errorf("Len = %d", tr.Len())
			}
			if tc.plan.String() != before {
				t.Errorf("Apply changed its input plan")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	c := rs("10.244.3.9:8080", 1)
	gone := rs("10.244.4.1:8080", 0)
	tr := NewTracker()
	for _, r := range []ipvs.RealServer{a, b, c, gone} {
		tr.add(tcp, r.RealServerKey, t0)
	}
	tr.add(udp, a.RealServerKey, t0) // another virtual server, not read
	dump := []ipvs.RealServer{weight(a, 0), weight(b, 0), weight(c, 1), rs("10.244.9.9:80", 1)}
	conns := map[ipvs.RealServerKey]ipvs.Conns{b.RealServerKey: {Active: 0, Inactive: 2}}

	del := Check(tr, tcp, dump, conns, t0.Add(time.Second), 0)
	if got := (state.Plan{DeleteRealServers: del}).String(); got != "-d -t 10.96.0.10:80 -r 10.244.1.5:8080\n" {
		t.Errorf("Check deleted:\n%s", got)
	}
	// a: deleted; c: back at weight 1; gone: not in the kernel. b still drains.
	want := "-t 10.96.0.10:80 -r 10.244.2.7:8080 since 2026-01-02T03:04:05Z\n-u 10.96.0.10:53 -r 10.244.1.5:8080 since 2026-01-02T03:04:05Z\n"
	if tr.String() != want {
		t.Errorf("tracker:\n%s\nwant:\n%s", tr, want)
	}
	// The bound passes for b.
	del = Check(tr, tcp, dump[1:2], conns, t0.Add(10*time.Minute), 10*time.Minute)
	if len(del) != 1 || del[0].RealServer.RealServerKey != b.RealServerKey || del[0].RealServer.Weight != 0 {
		t.Errorf("bound: Check = %v", del)
	}
	if got := tr.Services(); len(got) != 1 || got[0] != udp || tr.Len() != 1 {
		t.Errorf("left: %v (%d)", got, tr.Len())
	}
	// A virtual server with nothing draining costs nothing and decides nothing.
	if del := Check(tr, tcp, dump, nil, t0, 0); del != nil {
		t.Errorf("Check of an untracked virtual server = %v", del)
	}
}

func TestNeeded(t *testing.T) {
	if !Needed(ipvs.TCP) || Needed(ipvs.UDP) || Needed(ipvs.SCTP) {
		t.Error("only TCP drains")
	}
}

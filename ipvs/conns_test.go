package ipvs

import (
	"errors"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func TestFakeConns(t *testing.T) {
	f := NewFake()
	must(t, f.AddVirtualServer(vs4))
	a, b := rserver("10.244.1.5:8080", 1), rserver("10.244.2.7:8080", 0)
	must(t, f.AddRealServer(vs4.Key, a))
	must(t, f.AddRealServer(vs4.Key, b))
	must(t, f.SetConns(vs4.Key, b.RealServerKey, Conns{Active: 2, Inactive: 1}))
	must(t, f.SetConns(vs4.Key, a.RealServerKey, Conns{}))

	want := map[RealServerKey]Conns{b.RealServerKey: {Active: 2, Inactive: 1}}
	dump, err := f.Dump()
	must(t, err)
	if !reflect.DeepEqual(dump[0].Conns, want) {
		t.Errorf("Dump conns = %v, want %v (only servers with connections)", dump[0].Conns, want)
	}
	f.ResetCalls()
	rss, conns, err := f.RealServers(vs4.Key)
	must(t, err)
	if !reflect.DeepEqual(rss, []RealServer{a, b}) || !reflect.DeepEqual(conns, want) {
		t.Errorf("RealServers = %v, %v", rss, conns)
	}
	if c := f.Calls(); c.RealServers != 1 || c.Dump != 0 || len(c.Touched) != 0 {
		t.Errorf("calls = %+v; want one RealServers, nothing touched", c)
	}
	// A missing virtual server answers with nothing, as the kernel's dump does.
	if rss, conns, err := f.RealServers(vs6.Key); err != nil || rss != nil || conns != nil {
		t.Errorf("RealServers(missing) = %v, %v, %v", rss, conns, err)
	}
	// Counts go with the real server.
	must(t, f.DeleteRealServer(vs4.Key, b.RealServerKey))
	must(t, f.AddRealServer(vs4.Key, b))
	if _, conns, _ := f.RealServers(vs4.Key); conns != nil {
		t.Errorf("re-added real server kept counts %v", conns)
	}
	if err := f.SetConns(vs4.Key, rserver("10.0.0.9:1", 1).RealServerKey, Conns{Active: 1}); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("SetConns(missing real server) = %v", err)
	}
	if err := f.SetConns(vs6.Key, a.RealServerKey, Conns{Active: 1}); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("SetConns(missing virtual server) = %v", err)
	}
	f.FailNext(OpRealServers, syscall.EIO)
	if _, _, err := f.RealServers(vs4.Key); !errors.Is(err, syscall.EIO) {
		t.Errorf("FailNext(RealServers) = %v", err)
	}
}

func TestFakeTimeouts(t *testing.T) {
	f := NewFake()
	got, err := f.Timeouts()
	must(t, err)
	if got != defaultTimeouts {
		t.Errorf("fresh timeouts %+v", got)
	}
	must(t, f.SetTimeouts(Timeouts{UDP: 30 * time.Second}))
	got, _ = f.Timeouts()
	if want := (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 30 * time.Second}); got != want {
		t.Errorf("after setting UDP: %+v, want %+v (zero leaves as is)", got, want)
	}
	for _, bad := range []Timeouts{{TCP: 1500 * time.Millisecond}, {UDP: -time.Second}} {
		if err := f.SetTimeouts(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetTimeouts(%+v) = %v, want EINVAL", bad, err)
		}
	}
}

func TestTimeoutsWant(t *testing.T) {
	have := Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	for _, tc := range []struct {
		want, diff Timeouts
		changed    bool
	}{
		{Timeouts{}, Timeouts{}, false},
		{have, Timeouts{}, false},
		{Timeouts{TCP: 900 * time.Second, UDP: 10 * time.Second}, Timeouts{UDP: 10 * time.Second}, true},
		{Timeouts{TCPFin: 30 * time.Second}, Timeouts{TCPFin: 30 * time.Second}, true},
	} {
		diff, changed := have.Want(tc.want)
		if diff != tc.diff || changed != tc.changed {
			t.Errorf("Want(%+v) = %+v, %v; want %+v, %v", tc.want, diff, changed, tc.diff, tc.changed)
		}
	}
}

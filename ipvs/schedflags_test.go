package ipvs

import (
	"net/netip"
	"testing"
)

func TestSchedFlags(t *testing.T) {
	for _, tt := range []struct {
		sched string
		names []string
		flags SchedFlags
		text  string
	}{
		{"mh", []string{"mh-port"}, SchedFlag2, "mh-port"},
		{"mh", []string{"mh-port", "mh-fallback", "flag-3"}, SchedFlagsMask, "mh-fallback,mh-port,flag-3"},
		{"mh", []string{"flag-1"}, SchedFlag1, "mh-fallback"},
		{"sh", []string{"sh-fallback"}, SchedFlag1, "sh-fallback"},
		{"rr", []string{"flag-2", "flag-3"}, SchedFlag2 | SchedFlag3, "flag-2,flag-3"},
		{"rr", nil, 0, ""},
	} {
		f, err := ParseSchedFlags(tt.sched, tt.names)
		if err != nil || f != tt.flags {
			t.Errorf("ParseSchedFlags(%s, %v) = %#x, %v; want %#x", tt.sched, tt.names, f, err, tt.flags)
		}
		if got := f.Names(tt.sched); got != tt.text {
			t.Errorf("%#x.Names(%s) = %q, want %q", f, tt.sched, got, tt.text)
		}
	}
	for _, bad := range []struct{ sched, name string }{{"rr", "mh-port"}, {"sh", "mh-port"}, {"mh", "sh-port"}, {"mh", "port"}} {
		if _, err := ParseSchedFlags(bad.sched, []string{bad.name}); err == nil {
			t.Errorf("ParseSchedFlags(%s, %s) accepted", bad.sched, bad.name)
		}
	}
	vs := VirtualServer{Key: Key{Protocol: TCP, Address: netip.MustParseAddr("10.96.0.10"), Port: 80}, Scheduler: "mh", Flags: SchedFlag1 | SchedFlag2, Timeout: 600}
	if got, want := vs.String(), "-A -t 10.96.0.10:80 -s mh -p 600 -b mh-fallback,mh-port"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

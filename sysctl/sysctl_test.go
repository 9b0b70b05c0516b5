package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.vs.conntrack":             "net/ipv4/vs/conntrack",
		"net/ipv4/vs/conntrack":             "net/ipv4/vs/conntrack",
		"net/ipv4/conf/eth0.100/forwarding": "net/ipv4/conf/eth0.100/forwarding",
	} {
		if got, err := Path(in); err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/etc/passwd", "net/../../etc/passwd", "..", "net//ipv4"} {
		if got, err := Path(bad); err == nil {
			t.Errorf("Path(%q) = %q, want an error", bad, got)
		}
	}
}

func TestProc(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "net", "ipv4")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ip_forward"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Root: root}
	if v, err := p.Get("net.ipv4.ip_forward"); err != nil || v != "0" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := p.Set("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ip_forward")); string(b) != "1\n" {
		t.Errorf("file holds %q after Set", b)
	}
	if _, err := p.Get("net.ipv4.nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a missing parameter: %v", err)
	}
	if err := p.Set("net.ipv4.nope", "1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Set of a missing parameter: %v (must not create it)", err)
	}
	if New().Root != "/proc/sys" {
		t.Error("New is not over /proc/sys")
	}
}

func TestRealProcRead(t *testing.T) {
	v, err := New().Get("net.ipv4.ip_forward")
	if err != nil {
		t.Skipf("no /proc/sys/net/ipv4/ip_forward: %v", err)
	}
	if v != "0" && v != "1" {
		t.Errorf("ip_forward = %q", v)
	}
}

func TestRequired(t *testing.T) {
	names := func(s []Setting) string {
		var n []string
		for _, x := range s {
			n = append(n, x.Name+"="+x.Value)
		}
		return strings.Join(n, " ")
	}
	base := "net.ipv4.vs.conntrack=1 net.ipv4.vs.expire_nodest_conn=1 net.ipv4.vs.expire_quiescent_template=1 net.ipv4.ip_forward=1"
	for _, tc := range []struct {
		o    Options
		want string
		note string
	}{
		{Options{Kernel: "6.1.0-18-amd64"}, base, "left as is: kernel 6.1.0-18-amd64 is 5.9 or newer"},
		{Options{}, base, "not understood"},
		{Options{Kernel: "5.4.0-150-generic"}, "net.ipv4.vs.conntrack=1 net.ipv4.vs.conn_reuse_mode=0 " + base[len("net.ipv4.vs.conntrack=1 "):], "conn_reuse_mode=0"},
		{Options{Kernel: "3.10.0-1160.el7.x86_64"}, base, "older than 4.1"},
		{Options{Kernel: "6.1.0", StrictARP: true}, base + " net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2", ""},
		{Options{Kernel: "6.1.0", IPv6Forwarding: true}, base + " net.ipv6.conf.all.forwarding=1", "accept_ra"},
	} {
		s, notes := Required(tc.o)
		if got := names(s); got != tc.want {
			t.Errorf("Required(%+v) = %s\nwant %s", tc.o, got, tc.want)
		}
		if !strings.Contains(strings.Join(notes, "\n"), tc.note) {
			t.Errorf("Required(%+v) notes %q, want one with %q", tc.o, notes, tc.note)
		}
		if !tc.o.IPv6Forwarding && strings.Contains(names(s), "ipv6") {
			t.Errorf("Required(%+v) sets IPv6 forwarding without being asked", tc.o)
		}
	}
}

func TestConnReuseMode(t *testing.T) {
	for rel, want := range map[string]bool{
		"4.0.9": false, "4.1.0": true, "4.19.0-25-amd64": true, "5.8.18": true,
		"5.9.0": false, "5.10.0-28-amd64": false, "6.12.1+deb13-amd64": false, "": false, "linux": false,
	} {
		if got, note := ConnReuseMode(rel); got != want || note == "" {
			t.Errorf("ConnReuseMode(%q) = %v, %q; want %v", rel, got, note, want)
		}
	}
}

func TestEnsure(t *testing.T) {
	f := NewFake(map[string]string{
		"net.ipv4.vs.conntrack":                 "0",
		"net.ipv4.vs.expire_nodest_conn":        "1\n",
		"net.ipv4.vs.expire_quiescent_template": "0",
		"net/ipv4/ip_forward":                   "1",
	})
	v4, _ := Required(Options{Kernel: "6.1.0"})
	changed, err := Ensure(f, v4)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{"net.ipv4.vs.conntrack", "0", "1"},
		{"net.ipv4.vs.expire_quiescent_template", "0", "1"},
	}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("changed %+v, want %+v", changed, want)
	}
	if got := f.Sets(); !reflect.DeepEqual(got, []string{"net/ipv4/vs/conntrack=1", "net/ipv4/vs/expire_quiescent_template=1"}) {
		t.Errorf("Sets = %q: set what already held", got)
	}
	if changed, err := Ensure(f, v4); err != nil || len(changed) != 0 {
		t.Errorf("second Ensure = %v, %v; want nothing", changed, err)
	}

	// Missing IPv6: the error names it, the rest is still ensured.
	f = NewFake(map[string]string{"net.ipv4.ip_forward": "0"})
	changed, err = Ensure(f, []Setting{{"net.ipv6.conf.all.forwarding", "1"}, {"net.ipv4.ip_forward", "1"}})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "net.ipv6.conf.all.forwarding") {
		t.Errorf("Ensure error = %v", err)
	}
	if !reflect.DeepEqual(changed, []Change{{"net.ipv4.ip_forward", "0", "1"}}) {
		t.Errorf("changed %+v", changed)
	}
}

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
	v4 := Required(false)
	names := func(s []Setting) string {
		var n []string
		for _, x := range s {
			n = append(n, x.Name+"="+x.Value)
		}
		return strings.Join(n, " ")
	}
	if got, want := names(v4), "net.ipv4.vs.conntrack=1 net.ipv4.vs.expire_nodest_conn=1 net.ipv4.vs.expire_quiescent_template=1 net.ipv4.ip_forward=1"; got != want {
		t.Errorf("Required(false) = %s", got)
	}
	if got := names(Required(true)); got != names(v4)+" net.ipv6.conf.all.forwarding=1" {
		t.Errorf("Required(true) = %s", got)
	}
}

func TestEnsure(t *testing.T) {
	f := NewFake(map[string]string{
		"net.ipv4.vs.conntrack":                 "0",
		"net.ipv4.vs.expire_nodest_conn":        "1\n",
		"net.ipv4.vs.expire_quiescent_template": "0",
		"net/ipv4/ip_forward":                   "1",
	})
	changed, err := Ensure(f, Required(false))
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
	if changed, err := Ensure(f, Required(false)); err != nil || len(changed) != 0 {
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

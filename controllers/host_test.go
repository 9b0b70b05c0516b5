package controllers

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// countingIPVS counts SetTimeouts calls on the fake.
type countingIPVS struct {
	*ipvs.Fake
	sets []ipvs.Timeouts
}

func (c *countingIPVS) SetTimeouts(t ipvs.Timeouts) error {
	c.sets = append(c.sets, t)
	return c.Fake.SetTimeouts(t)
}

func hostFake(release string) *fakeKernel {
	fk := newFakeKernel()
	fk.sysctls = sysctl.NewFake(map[string]string{
		"kernel.osrelease":                      release,
		"net.ipv4.vs.conntrack":                 "0",
		"net.ipv4.vs.conn_reuse_mode":           "1",
		"net.ipv4.vs.expire_nodest_conn":        "0",
		"net.ipv4.vs.expire_quiescent_template": "0",
		"net.ipv4.ip_forward":                   "0",
		"net.ipv4.conf.all.arp_ignore":          "0",
		"net.ipv4.conf.all.arp_announce":        "0",
		"net.ipv6.conf.all.forwarding":          "0",
	})
	fk.Kernel.Sysctls = fk.sysctls
	fk.links.AddLink("eth1", "device", netip.MustParseAddr("2001:db8::10"))
	return fk
}

// logged collects log lines.
func logged(lines *[]string) context.Context {
	return logr.NewContext(context.Background(), funcr.New(func(prefix, args string) {
		*lines = append(*lines, args)
	}, funcr.Options{}))
}

func TestHostSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release string
		strict  bool
		v6      bool
		want    []string
	}{{
		name:    "defaults on a 6.1 kernel: kube-proxy's list, conn_reuse_mode and IPv6 forwarding left alone",
		release: "6.1.0-18-amd64",
		want:    []string{"net/ipv4/vs/conntrack=1", "net/ipv4/vs/expire_nodest_conn=1", "net/ipv4/vs/expire_quiescent_template=1", "net/ipv4/ip_forward=1"},
	}, {
		name:    "5.4 kernel: conn_reuse_mode=0",
		release: "5.4.0-150-generic",
		want:    []string{"net/ipv4/vs/conntrack=1", "net/ipv4/vs/conn_reuse_mode=0", "net/ipv4/vs/expire_nodest_conn=1", "net/ipv4/vs/expire_quiescent_template=1", "net/ipv4/ip_forward=1"},
	}, {
		name:    "strictARP and ipv6Forwarding asked for",
		release: "6.1.0",
		strict:  true,
		v6:      true,
		want: []string{"net/ipv4/vs/conntrack=1", "net/ipv4/vs/expire_nodest_conn=1", "net/ipv4/vs/expire_quiescent_template=1", "net/ipv4/ip_forward=1",
			"net/ipv4/conf/all/arp_ignore=1", "net/ipv4/conf/all/arp_announce=2", "net/ipv6/conf/all/forwarding=1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fk := hostFake(tc.release)
			cfg := testConfig()
			cfg.StrictARP, cfg.IPv6Forwarding = tc.strict, tc.v6
			r := NewReconciler(fk.Kernel, cfg)
			var lines []string
			if _, err := r.Full(logged(&lines), webAndDNS()); err != nil {
				t.Fatal(err)
			}
			if got := fk.sysctls.Sets(); !slices.Equal(got, tc.want) {
				t.Errorf("sysctl sets:\n%q\nwant\n%q", got, tc.want)
			}
			m := fk.resetCalls()
			lines = nil
			if _, err := r.Full(logged(&lines), webAndDNS()); err != nil {
				t.Fatal(err)
			}
			if got := fk.sysctls.Sets()[m.sysctls:]; len(got) != 0 {
				t.Errorf("second sync set %v: only what differs is written", got)
			}
			if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, `"host setting`) }) {
				t.Errorf("second sync logged host settings again: %q", lines)
			}
		})
	}
}

func TestHostSettingsLoggedAtStart(t *testing.T) {
	fk := hostFake("5.4.0")
	cfg := testConfig()
	cfg.IPVSUDPTimeout = 30 * time.Second
	r := NewReconciler(fk.Kernel, cfg)
	var lines []string
	if _, err := r.Full(logged(&lines), webAndDNS()); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		`"msg"="host settings"`, `"net.ipv4.vs.conn_reuse_mode"="0"`, `conn_reuse_mode=0: kernel 5.4.0 is before 5.9`,
		`"ipvsTimeouts"="tcp=15m0s tcpfin=2m0s udp=30s"`,
		`"msg"="host setting changed" "sysctl"="net.ipv4.vs.conntrack" "from"="0" "to"="1"`,
		`"msg"="host setting changed" "ipvsTimeout"="udp" "from"="5m0s" "to"="30s"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %s:\n%s", want, all)
		}
	}
}

// IPVS timeouts: set when configured and different, never otherwise; a
// zero one keeps the kernel's.
func TestIPVSTimeouts(t *testing.T) {
	fk := newFakeKernel()
	iv := &countingIPVS{Fake: fk.ipvs}
	fk.Kernel.IPVS = iv
	cfg := testConfig()
	r := NewReconciler(fk.Kernel, cfg)
	mustFull(t, r, webAndDNS())
	if len(iv.sets) != 0 {
		t.Errorf("set timeouts without any configured: %v", iv.sets)
	}

	cfg.IPVSTCPTimeout, cfg.IPVSUDPTimeout = 900*time.Second, 30*time.Second // TCP as the kernel has it
	r = NewReconciler(fk.Kernel, cfg)
	mustFull(t, r, webAndDNS())
	mustFull(t, r, webAndDNS())
	if want := []ipvs.Timeouts{{UDP: 30 * time.Second}}; !slices.Equal(iv.sets, want) {
		t.Errorf("SetTimeouts calls %v, want %v", iv.sets, want)
	}
	if got, _ := fk.ipvs.Timeouts(); got != (ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 30 * time.Second}) {
		t.Errorf("timeouts %+v", got)
	}
}

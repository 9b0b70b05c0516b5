package v1alpha1

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	c.NodeName = "node-a"
	if err := c.Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v", err)
	}
	if c.Scheduler != "rr" || c.DummyInterface != "kube-ipvs0" || c.MinSyncPeriod != 10*time.Millisecond || c.SyncPeriod != 30*time.Second || c.AuditPeriod != 2*time.Hour || c.MasqueradeBit != 13 {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"scheduler", func(c *Config) { c.Scheduler = "fast" }, []string{`scheduler: "fast"`}},
		{"dummy name too long", func(c *Config) { c.DummyInterface = "a-very-long-link-name" }, []string{"dummyInterface"}},
		{"node port CIDR", func(c *Config) { c.NodePortAddresses = []string{"10.0.0.0/8", "nope"} }, []string{`nodePortAddresses: "nope"`}},
		{"cluster CIDR", func(c *Config) { c.ClusterCIDR = "10.244.0.0/16, bad" }, []string{`clusterCIDR: "bad"`}},
		{"periods", func(c *Config) { c.MinSyncPeriod = time.Minute; c.SyncPeriod = time.Second }, []string{"syncPeriod"}},
		{"audit period", func(c *Config) { c.AuditPeriod = -time.Second }, []string{"auditPeriod"}},
		{"many at once", func(c *Config) {
			c.NodeName = ""
			c.Scheduler = "x"
			c.LogFormat = "xml"
			c.MasqueradeBit = 32
			c.Verbosity = -1
		}, []string{"nodeName", "scheduler", "logFormat", "masqueradeBit", "verbosity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.NodeName = "node-a"
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tt.want) {
				t.Errorf("Validate() reported %d problems, want %d: %q", got, len(tt.want), err)
			}
		})
	}
}

func TestClusterCIDRsAndNodePortPrefixes(t *testing.T) {
	c := Config{ClusterCIDR: "10.244.1.7/16, fd00:10::/64", NodePortAddresses: []string{"192.168.1.0/24"}}
	got, err := c.ClusterCIDRs()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10::/64")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ClusterCIDRs() = %v, want %v", got, want)
	}
	if p := c.NodePortPrefixes(); len(p) != 1 || p[0] != netip.MustParsePrefix("192.168.1.0/24") {
		t.Errorf("NodePortPrefixes() = %v", p)
	}
}

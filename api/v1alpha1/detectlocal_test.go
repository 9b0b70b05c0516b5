package v1alpha1

import (
	"strings"
	"testing"
)

func TestValidateParityKeys(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"primary keyword", func(c *Config) { c.NodePortAddresses = []string{"primary", "10.0.0.0/8"} }, ""},
		{"mh flags", func(c *Config) { c.Scheduler, c.SchedulerFlags = "mh", []string{"mh-fallback", "mh-port"} }, ""},
		{"sh flags", func(c *Config) { c.Scheduler, c.SchedulerFlags = "sh", []string{"sh-port"} }, ""},
		{"generic flags", func(c *Config) { c.SchedulerFlags = []string{"flag-1", "flag-3"} }, ""},
		{"mh flag on rr", func(c *Config) { c.SchedulerFlags = []string{"mh-port"} }, `schedulerFlags: "mh-port"`},
		{"unknown flag", func(c *Config) { c.Scheduler, c.SchedulerFlags = "mh", []string{"fast"} }, `schedulerFlags: "fast"`},
		{"NodeCIDR", func(c *Config) { c.DetectLocalMode = DetectLocalNodeCIDR }, ""},
		{"ClusterCIDR", func(c *Config) { c.DetectLocalMode = DetectLocalClusterCIDR }, ""},
		{"bridge", func(c *Config) { c.DetectLocalMode, c.BridgeInterface = DetectLocalBridgeInterface, "cni0" }, ""},
		{"bridge missing", func(c *Config) { c.DetectLocalMode = DetectLocalBridgeInterface }, "bridgeInterface"},
		{"prefix", func(c *Config) { c.DetectLocalMode, c.InterfaceNamePrefix = DetectLocalInterfaceNamePrefix, "veth" }, ""},
		{"prefix with +", func(c *Config) { c.DetectLocalMode, c.InterfaceNamePrefix = DetectLocalInterfaceNamePrefix, "veth+" }, "interfaceNamePrefix"},
		{"unknown mode", func(c *Config) { c.DetectLocalMode = "Magic" }, `detectLocalMode: "Magic"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.NodeName = "node-a"
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

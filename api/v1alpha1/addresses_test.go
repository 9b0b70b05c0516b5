package v1alpha1

import (
	"strings"
	"testing"
)

func TestValidateNamesAndAddresses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"dummy: 15 characters", func(c *Config) { c.DummyInterface = "abcdefghijklmno" }, ""},
		{"dummy: 16 characters", func(c *Config) { c.DummyInterface = "abcdefghijklmnop" }, `dummyInterface: "abcdefghijklmnop" must be 1 to 15 characters`},
		{"dummy: empty", func(c *Config) { c.DummyInterface = "" }, `dummyInterface: "" must be 1 to 15 characters`},
		{"dummy: slash", func(c *Config) { c.DummyInterface = "kube/ipvs0" }, `dummyInterface: "kube/ipvs0" holds '/' or ':'`},
		{"dummy: colon", func(c *Config) { c.DummyInterface = "eth0:1" }, `holds '/' or ':'`},
		{"dummy: space", func(c *Config) { c.DummyInterface = "kube ipvs0" }, "white space"},
		{"dummy: dot", func(c *Config) { c.DummyInterface = ".." }, `".." is not a link name`},
		{"dummy: unicode", func(c *Config) { c.DummyInterface = "kübe0" }, "printable ASCII"},
		{"healthz: all addresses", func(c *Config) { c.HealthzAddress = ":10256" }, ""},
		{"healthz: IPv4", func(c *Config) { c.HealthzAddress = "0.0.0.0:10256" }, ""},
		{"healthz: IPv6", func(c *Config) { c.HealthzAddress = "[::1]:10256" }, ""},
		{"healthz: host name", func(c *Config) { c.HealthzAddress = "localhost:10256" }, ""},
		{"healthz: no port", func(c *Config) { c.HealthzAddress = "0.0.0.0" }, `healthzAddress: "0.0.0.0" is not HOST:PORT`},
		{"healthz: IPv6 without brackets", func(c *Config) { c.HealthzAddress = "::1:10256" }, "is not HOST:PORT"},
		{"healthz: port 0", func(c *Config) { c.HealthzAddress = ":0" }, `port "0" is not a number in 1-65535`},
		{"healthz: port too big", func(c *Config) { c.HealthzAddress = ":65536" }, `port "65536"`},
		{"healthz: named port", func(c *Config) { c.HealthzAddress = ":http" }, `port "http"`},
		{"healthz: bad IP", func(c *Config) { c.HealthzAddress = "10.0.0.300:80" }, `host "10.0.0.300" is neither`},
		{"healthz: host with a space", func(c *Config) { c.HealthzAddress = "my host:80" }, `host "my host" is neither`},
		{"clusterCIDR: one per family", func(c *Config) { c.ClusterCIDR = "10.244.0.0/16,fd00::/64" }, ""},
		{"clusterCIDR: two IPv4", func(c *Config) { c.ClusterCIDR = "10.244.0.0/16,10.245.0.0/16" }, "clusterCIDR: 10.244.0.0/16 and 10.245.0.0/16 are of one family"},
		{"clusterCIDR: two IPv6", func(c *Config) { c.ClusterCIDR = "fd00::/64, fd01::/64" }, "are of one family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.NodeName = "node-a"
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

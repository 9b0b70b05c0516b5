// Package v1alpha1 is ipvs-proxy's typed configuration: one struct with
// Defaults and Validate. Loading it (file, environment, flags) happens in cmd/
// with viper; nothing here knows where a value came from.
package v1alpha1

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// Schedulers are the IPVS schedulers ipvs-proxy accepts.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"}

// Config is ipvs-proxy's whole configuration. Field names double as the keys of
// the YAML file (camelCase), the flags (kebab-case) and the environment
// (IPVS_PROXY_ + upper snake case).
type Config struct {
	// Kubeconfig is the path to a kubeconfig; empty means in-cluster.
	Kubeconfig string `mapstructure:"kubeconfig" json:"kubeconfig,omitempty"`
	// NodeName is this node's name (default $NODE_NAME, else the hostname).
	NodeName string `mapstructure:"nodeName" json:"nodeName,omitempty"`
	// Scheduler is the IPVS scheduler of every virtual server.
	Scheduler string `mapstructure:"scheduler" json:"scheduler,omitempty"`
	// DummyInterface holds the ClusterIPs.
	DummyInterface string `mapstructure:"dummyInterface" json:"dummyInterface,omitempty"`
	// NodePortAddresses restricts NodePort virtual servers to node addresses in
	// these CIDRs; empty means every node address.
	NodePortAddresses []string `mapstructure:"nodePortAddresses" json:"nodePortAddresses,omitempty"`
	// ClusterCIDR: ClusterIP traffic from outside it is masqueraded. May hold one
	// CIDR per family, comma separated.
	ClusterCIDR string `mapstructure:"clusterCIDR" json:"clusterCIDR,omitempty"`
	// MasqueradeAll masquerades all traffic sent to ClusterIPs.
	MasqueradeAll bool `mapstructure:"masqueradeAll" json:"masqueradeAll,omitempty"`
	// MasqueradeBit is the fwmark bit for masquerade (kube-proxy uses 14; we default to 13 to coexist).
	MasqueradeBit int `mapstructure:"masqueradeBit" json:"masqueradeBit,omitempty"`
	// MinSyncPeriod is the least time between two syncs.
	MinSyncPeriod time.Duration `mapstructure:"minSyncPeriod" json:"minSyncPeriod,omitempty"`
	// SyncPeriod is the time between full resyncs.
	SyncPeriod time.Duration `mapstructure:"syncPeriod" json:"syncPeriod,omitempty"`
	// LogFormat is "text" or "json".
	LogFormat string `mapstructure:"logFormat" json:"logFormat,omitempty"`
	// Verbosity is the logr V level to print (0 = changes are not logged, 2 = every change).
	Verbosity int `mapstructure:"verbosity" json:"verbosity,omitempty"`
	// HealthzAddress serves kube-proxy's /healthz and /livez; empty disables it.
	HealthzAddress string `mapstructure:"healthzAddress" json:"healthzAddress,omitempty"`
	// MetricsAddress serves /metrics (Prometheus); empty disables it.
	MetricsAddress string `mapstructure:"metricsAddress" json:"metricsAddress,omitempty"`
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	name := os.Getenv("NODE_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	return Config{
		NodeName:       name,
		Scheduler:      "rr",
		DummyInterface: "kube-ipvs0",
		MasqueradeBit:  13,
		MinSyncPeriod:  time.Second,
		SyncPeriod:     30 * time.Second,
		LogFormat:      "text",
		Verbosity:      0,
		HealthzAddress: "0.0.0.0:10256",   // kube-proxy's
		MetricsAddress: "127.0.0.1:10249", // kube-proxy's
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("nodeName: must be set (or NODE_NAME)"))
	}
	if !slices.Contains(Schedulers, c.Scheduler) {
		errs = append(errs, fmt.Errorf("scheduler: %q is not one of %v", c.Scheduler, Schedulers))
	}
	if c.DummyInterface == "" || len(c.DummyInterface) > 15 {
		errs = append(errs, fmt.Errorf("dummyInterface: %q must be 1 to 15 characters", c.DummyInterface))
	}
	for _, s := range c.NodePortAddresses {
		if _, err := netip.ParsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("nodePortAddresses: %q is not a CIDR", s))
		}
	}
	if _, err := c.ClusterCIDRs(); err != nil {
		errs = append(errs, err)
	}
	if c.MasqueradeBit < 0 || c.MasqueradeBit > 31 {
		errs = append(errs, fmt.Errorf("masqueradeBit: %d is not in 0-31", c.MasqueradeBit))
	}
	if c.MinSyncPeriod < 0 {
		errs = append(errs, fmt.Errorf("minSyncPeriod: %s is negative", c.MinSyncPeriod))
	}
	if c.SyncPeriod <= 0 || c.SyncPeriod < c.MinSyncPeriod {
		errs = append(errs, fmt.Errorf("syncPeriod: %s must be positive and at least minSyncPeriod (%s)", c.SyncPeriod, c.MinSyncPeriod))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("logFormat: %q is not text or json", c.LogFormat))
	}
	if c.Verbosity < 0 {
		errs = append(errs, fmt.Errorf("verbosity: %d is negative", c.Verbosity))
	}
	return errors.Join(errs...)
}

// ClusterCIDRs parses ClusterCIDR (comma separated, at most one per family).
func (c Config) ClusterCIDRs() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(c.ClusterCIDR) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("clusterCIDR: %q is not a CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// NodePortPrefixes parses NodePortAddresses; call after Validate.
func (c Config) NodePortPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.NodePortAddresses {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

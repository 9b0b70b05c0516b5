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
	// SchedulerFlags are the scheduler's flags (flag-1..3, mh-/sh-fallback,
	// mh-/sh-port); empty means none, or mh-port for mh (as kube-proxy).
	SchedulerFlags []string `mapstructure:"schedulerFlags" json:"schedulerFlags,omitempty"`
	// ServiceProxyName: Services (and EndpointSlices) labelled
	// service.kubernetes.io/service-proxy-name with this value are ours too;
	// empty means, as in kube-proxy, that every labelled object is skipped.
	ServiceProxyName string `mapstructure:"serviceProxyName" json:"serviceProxyName,omitempty"`
	// DummyInterface holds the ClusterIPs.
	DummyInterface string `mapstructure:"dummyInterface" json:"dummyInterface,omitempty"`
	// NodePortAddresses restricts NodePort virtual servers to node addresses in
	// these CIDRs (or "primary": the Node's own IPs); a family without an
	// entry, and an empty list, mean every node address of that family.
	NodePortAddresses []string `mapstructure:"nodePortAddresses" json:"nodePortAddresses,omitempty"`
	// ClusterCIDR: ClusterIP traffic from outside it is masqueraded. May hold one
	// CIDR per family, comma separated.
	ClusterCIDR string `mapstructure:"clusterCIDR" json:"clusterCIDR,omitempty"`
	// MasqueradeAll masquerades all traffic sent to ClusterIPs.
	MasqueradeAll bool `mapstructure:"masqueradeAll" json:"masqueradeAll,omitempty"`
	// DetectLocalMode tells pod traffic from the rest (see detectlocal.go).
	DetectLocalMode string `mapstructure:"detectLocalMode" json:"detectLocalMode,omitempty"`
	// BridgeInterface is the pods' bridge for DetectLocalMode BridgeInterface.
	BridgeInterface string `mapstructure:"bridgeInterface" json:"bridgeInterface,omitempty"`
	// InterfaceNamePrefix prefixes the pods' host-side interfaces for
	// DetectLocalMode InterfaceNamePrefix.
	InterfaceNamePrefix string `mapstructure:"interfaceNamePrefix" json:"interfaceNamePrefix,omitempty"`
	// MasqueradeBit is the fwmark bit for masquerade (kube-proxy uses 14; we default to 13 to coexist).
	MasqueradeBit int `mapstructure:"masqueradeBit" json:"masqueradeBit,omitempty"`
	// MinSyncPeriod is the least time between two syncs of changes (bursts
	// within it are coalesced into one sync).
	MinSyncPeriod time.Duration `mapstructure:"minSyncPeriod" json:"minSyncPeriod,omitempty"`
	// SyncPeriod is the time between periodic refreshes: Services whose
	// objects changed since their fragment was built are recomputed (a full
	// resync only at start and after a failure).
	SyncPeriod time.Duration `mapstructure:"syncPeriod" json:"syncPeriod,omitempty"`
	// AuditPeriod is the time in which the rolling kernel audit reads all of
	// our kernel state once, a bounded share at a time, and repairs drift;
	// 0 disables it.
	AuditPeriod time.Duration `mapstructure:"auditPeriod" json:"auditPeriod,omitempty"`
	// LogFormat is "text" or "json".
	LogFormat string `mapstructure:"logFormat" json:"logFormat,omitempty"`
	// Verbosity is the logr V level to print (0 = changes are not logged, 2 = every change).
	Verbosity int `mapstructure:"verbosity" json:"verbosity,omitempty"`
	// HealthzAddress serves kube-proxy's /healthz and /livez; empty disables it.
	HealthzAddress string `mapstructure:"healthzAddress" json:"healthzAddress,omitempty"`
	// MetricsAddress serves /metrics (Prometheus); empty disables it.
	MetricsAddress string `mapstructure:"metricsAddress" json:"metricsAddress,omitempty"`
	// EnableProfiling serves Go's /debug/pprof on MetricsAddress, as
	// kube-proxy's enableProfiling does.
	EnableProfiling bool `mapstructure:"enableProfiling" json:"enableProfiling,omitempty"`

	// Host settings and graceful termination: see host.go.
	StrictARP         bool          `mapstructure:"strictARP" json:"strictARP,omitempty"`
	IPVSTCPTimeout    time.Duration `mapstructure:"ipvsTCPTimeout" json:"ipvsTCPTimeout,omitempty"`
	IPVSTCPFinTimeout time.Duration `mapstructure:"ipvsTCPFinTimeout" json:"ipvsTCPFinTimeout,omitempty"`
	IPVSUDPTimeout    time.Duration `mapstructure:"ipvsUDPTimeout" json:"ipvsUDPTimeout,omitempty"`
	IPv6Forwarding    bool          `mapstructure:"ipv6Forwarding" json:"ipv6Forwarding,omitempty"`
	DrainTimeout      time.Duration `mapstructure:"drainTimeout" json:"drainTimeout,omitempty"`
	DrainCheckPeriod  time.Duration `mapstructure:"drainCheckPeriod" json:"drainCheckPeriod,omitempty"`

	// Takeover is what to do with kube-proxy's IPVS state: auto or off (takeover.go).
	Takeover string `mapstructure:"takeover" json:"takeover,omitempty"`
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
		MinSyncPeriod:  10 * time.Millisecond, // about what an incremental sync costs
		SyncPeriod:     30 * time.Second,
		AuditPeriod:    2 * time.Hour, // ~17 ms per real-server dump under emulation: 10k in 2h is ~2% of a core
		LogFormat:      "text",
		Verbosity:      0,
		HealthzAddress: "0.0.0.0:10256",   // kube-proxy's
		MetricsAddress: "127.0.0.1:10249", // kube-proxy's

		DrainCheckPeriod: DefaultDrainCheckPeriod,
		Takeover:         TakeoverAuto,
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
	if err := CheckSchedulerFlags(c.Scheduler, c.SchedulerFlags); err != nil {
		errs = append(errs, fmt.Errorf("schedulerFlags: %w", err))
	}
	if err := checkInterfaceName(c.DummyInterface); err != nil {
		errs = append(errs, fmt.Errorf("dummyInterface: %w", err))
	}
	for _, s := range c.NodePortAddresses {
		if _, err := netip.ParsePrefix(s); err != nil && s != NodePortAddressesPrimary {
			errs = append(errs, fmt.Errorf("nodePortAddresses: %q is not a CIDR or %q", s, NodePortAddressesPrimary))
		}
	}
	if _, err := c.ClusterCIDRs(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateDetectLocal(); err != nil {
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
	if c.AuditPeriod < 0 {
		errs = append(errs, fmt.Errorf("auditPeriod: %s is negative", c.AuditPeriod))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("logFormat: %q is not text or json", c.LogFormat))
	}
	if c.Verbosity < 0 {
		errs = append(errs, fmt.Errorf("verbosity: %d is negative", c.Verbosity))
	}
	errs = append(errs, c.validateHost()...)
	errs = append(errs, c.validateTakeover()...)
	if c.HealthzAddress != "" {
		if err := checkHostPort(c.HealthzAddress); err != nil {
			errs = append(errs, fmt.Errorf("healthzAddress: %w", err))
		}
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
		p = p.Masked()
		for _, q := range out {
			if q.Addr().Is4() == p.Addr().Is4() {
				return nil, fmt.Errorf("clusterCIDR: %s and %s are of one family; give at most one IPv4 and one IPv6 CIDR", q, p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// NodePortPrefixes parses NodePortAddresses, without the "primary"
// keyword (see desired.NodePortPrefixes); call after Validate.
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

package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
)

// NodePortAddressesPrimary in NodePortAddresses stands for the Node's own
// IPs (its first InternalIP, else ExternalIP, per family), as in kube-proxy.
const NodePortAddressesPrimary = "primary"

// The ways to tell traffic from this cluster's pods (not masqueraded when
// it reaches a ClusterIP) from other traffic: kube-proxy's detectLocalMode.
const (
	// DetectLocalClusterCIDR: sources inside ClusterCIDR are pods (the
	// default, and with an empty ClusterCIDR there is no detector).
	DetectLocalClusterCIDR = "ClusterCIDR"
	// DetectLocalNodeCIDR: sources inside this Node's spec.podCIDRs are pods.
	DetectLocalNodeCIDR = "NodeCIDR"
	// DetectLocalBridgeInterface: packets arriving on BridgeInterface are pods'.
	DetectLocalBridgeInterface = "BridgeInterface"
	// DetectLocalInterfaceNamePrefix: packets arriving on an interface named
	// InterfaceNamePrefix* are pods'.
	DetectLocalInterfaceNamePrefix = "InterfaceNamePrefix"
)

// DetectLocalModes lists the accepted DetectLocalMode values ("" is ClusterCIDR).
var DetectLocalModes = []string{DetectLocalClusterCIDR, DetectLocalNodeCIDR, DetectLocalBridgeInterface, DetectLocalInterfaceNamePrefix}

func (c Config) validateDetectLocal() error {
	switch c.DetectLocalMode {
	case "", DetectLocalClusterCIDR, DetectLocalNodeCIDR:
	case DetectLocalBridgeInterface:
		if !ifaceName(c.BridgeInterface) {
			return fmt.Errorf("bridgeInterface: %q must be an interface name of 1 to 15 characters for detectLocalMode %s", c.BridgeInterface, c.DetectLocalMode)
		}
	case DetectLocalInterfaceNamePrefix:
		if !ifaceName(c.InterfaceNamePrefix) {
			return fmt.Errorf("interfaceNamePrefix: %q must be 1 to 15 characters of an interface name for detectLocalMode %s", c.InterfaceNamePrefix, c.DetectLocalMode)
		}
	default:
		return fmt.Errorf("detectLocalMode: %q is not one of %v", c.DetectLocalMode, DetectLocalModes)
	}
	return nil
}

func ifaceName(s string) bool {
	return s != "" && len(s) <= 15 && !strings.ContainsAny(s, " /+!\"'\\\t\n")
}

// schedulerFlagNames are ipvsadm's names of the three scheduler flags.
var schedulerFlagNames = map[string][3]string{
	"sh": {"sh-fallback", "sh-port", "flag-3"},
	"mh": {"mh-fallback", "mh-port", "flag-3"},
}

// CheckSchedulerFlags tells whether flags are ipvsadm names of scheduler
// flags for sched: flag-1, flag-2, flag-3 always; sh-fallback and sh-port
// for sh; mh-fallback and mh-port for mh.
func CheckSchedulerFlags(sched string, flags []string) error {
	for _, f := range flags {
		if f == "flag-1" || f == "flag-2" || f == "flag-3" {
			continue
		}
		if own, ok := schedulerFlagNames[sched]; ok && slices.Contains(own[:], f) {
			continue
		}
		return fmt.Errorf("%q is not a flag of scheduler %q (flag-1, flag-2, flag-3; sh-fallback, sh-port for sh; mh-fallback, mh-port for mh)", f, sched)
	}
	return nil
}

package v1alpha1

import (
	"fmt"
	"time"
)

// The host settings and graceful termination fields of Config, as
// kube-proxy's IPVS mode has them:
//
//   - StrictARP sets net.ipv4.conf.all.arp_ignore=1 and arp_announce=2, so
//     the node does not answer ARP for the ClusterIPs on the dummy link
//     (MetalLB in L2 mode needs it). kube-proxy's ipvs.strictARP.
//   - IPVSTCPTimeout, IPVSTCPFinTimeout, IPVSUDPTimeout are IPVS's
//     connection timeouts (`ipvsadm --set`), whole seconds; 0 leaves the
//     kernel's value. kube-proxy's ipvs.tcpTimeout, tcpFinTimeout, udpTimeout.
//   - IPv6Forwarding sets net.ipv6.conf.all.forwarding=1. Off by default, as
//     kube-proxy leaves it to the CNI: with it on, every interface with
//     accept_ra=1 stops taking router advertisements (and loses its SLAAC
//     default route) unless it has accept_ra=2.
//   - DrainTimeout bounds how long a removed TCP real server is kept at
//     weight 0 for its connections; 0 means until IPVS counts none
//     (kube-proxy has no bound).
//   - DrainCheckPeriod is how often draining real servers' connection
//     counts are read (only while any drain); 0 means DefaultDrainCheckPeriod.

// DefaultDrainCheckPeriod is the drain check period when none is set.
const DefaultDrainCheckPeriod = 5 * time.Second

// validateHost checks the host and drain fields.
func (c Config) validateHost() []error {
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"ipvsTCPTimeout", c.IPVSTCPTimeout}, {"ipvsTCPFinTimeout", c.IPVSTCPFinTimeout}, {"ipvsUDPTimeout", c.IPVSUDPTimeout}} {
		if f.d < 0 || f.d%time.Second != 0 || f.d/time.Second > 1<<31-1 {
			errs = append(errs, fmt.Errorf("%s: %s must be a whole number of seconds, 0 or more (0 keeps the kernel's)", f.name, f.d))
		}
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drainTimeout: %s is negative (0 means until connections end)", c.DrainTimeout))
	}
	if c.DrainCheckPeriod < 0 {
		errs = append(errs, fmt.Errorf("drainCheckPeriod: %s is negative (0 means the default, 5s)", c.DrainCheckPeriod))
	}
	return errs
}

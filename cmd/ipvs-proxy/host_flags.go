package main

import (
	"github.com/spf13/pflag"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

// addHostFlags defines the flags of the host settings and graceful
// termination (api/v1alpha1/host.go).
func addHostFlags(fs *pflag.FlagSet, d v1alpha1.Config) {
	fs.Bool("strict-arp", d.StrictARP, "set arp_ignore=1 and arp_announce=2 (MetalLB L2 needs it)")
	fs.Duration("ipvs-tcp-timeout", d.IPVSTCPTimeout, "IPVS timeout of established TCP connections; 0 keeps the kernel's")
	fs.Duration("ipvs-tcp-fin-timeout", d.IPVSTCPFinTimeout, "IPVS timeout of TCP connections after FIN; 0 keeps the kernel's")
	fs.Duration("ipvs-udp-timeout", d.IPVSUDPTimeout, "IPVS timeout of UDP flows; 0 keeps the kernel's")
	fs.Bool("ipv6forwarding", d.IPv6Forwarding, "set net.ipv6.conf.all.forwarding=1 (off: left to the CNI, as kube-proxy does; interfaces with accept_ra=1 then ignore router advertisements)")
	fs.Duration("drain-timeout", d.DrainTimeout, "longest time a removed TCP real server is kept at weight 0 for its connections; 0 waits until none is left")
	fs.Duration("drain-check-period", d.DrainCheckPeriod, "how often draining real servers' connections are counted")
}

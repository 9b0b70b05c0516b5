package controllers

import (
	"github.com/ipvs-proxy/ipvs-proxy/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// Kernel bundles the narrow adapters the reconciler drives. Production code
// passes the netlink/iptables implementations, tests the in-memory fakes.
type Kernel struct {
	IPVS    ipvs.Interface
	Sets    ipset.Interface
	Links   netif.Interface
	Rules   rules.Interface
	Sysctls sysctl.Interface
	// Conntrack deletes stale UDP/SCTP flows; nil skips the cleanup.
	Conntrack conntrack.Interface
}

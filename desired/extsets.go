package desired

import (
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// ExternalSets are the ipsets of one family for external IPs, load
// balancers, externalTrafficPolicy Local, source ranges, health-check node
// ports and the dummy-link port filter. They mirror kube-proxy's
// KUBE-EXTERNAL-IP, KUBE-EXTERNAL-IP-LOCAL, KUBE-LOAD-BALANCER,
// KUBE-LOAD-BALANCER-LOCAL, KUBE-NODE-PORT-LOCAL-*, KUBE-LOAD-BALANCER-FW,
// KUBE-LOAD-BALANCER-SOURCE-CIDR, KUBE-LOAD-BALANCER-SOURCE-IP,
// KUBE-HEALTH-CHECK-NODE-PORT and KUBE-IPVS-IPS.
type ExternalSets struct {
	// ExternalIP records every virtual server on a spec.externalIPs address
	// (a ledger set, like ClusterIP); traffic to it is masqueraded unless the
	// member is also in ExternalIPLocal.
	ExternalIP string
	// ExternalIPLocal: external-IP virtual servers of Services with
	// externalTrafficPolicy Local that have a local endpoint (source IP kept).
	ExternalIPLocal string
	// LoadBalancer records every virtual server on a load-balancer ingress IP
	// (a ledger set); masqueraded unless also in LoadBalancerLocal.
	LoadBalancer string
	// LoadBalancerLocal: as ExternalIPLocal, for load-balancer IPs.
	LoadBalancerLocal string
	// NodePortLocal: node-port virtual servers (node address, protocol, port)
	// of Services with externalTrafficPolicy Local that have a local endpoint.
	NodePortLocal string
	// LBFirewall: load-balancer virtual servers with loadBalancerSourceRanges;
	// their traffic must come from LBSourceCIDR or LBSourceIP or is dropped.
	LBFirewall string
	// LBSourceCIDR (hash:ip,port,net): LB IP, protocol:port, allowed source range.
	LBSourceCIDR string
	// LBSourceIP (hash:ip,port,ip): LB IP, protocol:port, LB IP, present when a
	// node address lies in the source ranges (node-local traffic allowed).
	LBSourceIP string
	// HealthCheck: node address, tcp:healthCheckNodePort (accepted on input).
	HealthCheck string
	// VIPs (hash:ip): every address ipvs-proxy binds on the dummy link; new
	// connections to them on ports that are no Service's are rejected.
	VIPs string
}

func externalSets(prefix string) ExternalSets {
	return ExternalSets{
		ExternalIP:        prefix + "EXTERNAL-IP",
		ExternalIPLocal:   prefix + "EXTERNAL-IP-LOCAL",
		LoadBalancer:      prefix + "LOAD-BALANCER",
		LoadBalancerLocal: prefix + "LOAD-BALANCER-LOCAL",
		NodePortLocal:     prefix + "NODE-PORT-LOCAL",
		LBFirewall:        prefix + "LB-FW",
		LBSourceCIDR:      prefix + "LB-SOURCE-CIDR",
		LBSourceIP:        prefix + "LB-SOURCE-IP",
		HealthCheck:       prefix + "HEALTH-CHECK",
		VIPs:              prefix + "IPS",
	}
}

// all returns the sets to create for family (ipset.FamilyInet or FamilyInet6).
func (x ExternalSets) all(family string) []ipset.Set {
	s := func(name, typ string) ipset.Set { return ipset.Set{Name: name, Type: typ, Family: family} }
	return []ipset.Set{
		s(x.ExternalIP, ipset.HashIPPort),
		s(x.ExternalIPLocal, ipset.HashIPPort),
		s(x.LoadBalancer, ipset.HashIPPort),
		s(x.LoadBalancerLocal, ipset.HashIPPort),
		s(x.NodePortLocal, ipset.HashIPPort),
		s(x.LBFirewall, ipset.HashIPPort),
		s(x.LBSourceCIDR, ipset.HashIPPortNet),
		s(x.LBSourceIP, ipset.HashIPPortIP),
		s(x.HealthCheck, ipset.HashIPPort),
		s(x.VIPs, ipset.HashIP),
	}
}

// rules returns the names as the rules package wants them.
func (x ExternalSets) rules() rules.ExternalSets {
	return rules.ExternalSets{
		ExternalIP: x.ExternalIP, ExternalIPLocal: x.ExternalIPLocal,
		LoadBalancer: x.LoadBalancer, LoadBalancerLocal: x.LoadBalancerLocal,
		NodePortLocal: x.NodePortLocal, LBFirewall: x.LBFirewall,
		LBSourceCIDR: x.LBSourceCIDR, LBSourceIP: x.LBSourceIP,
		HealthCheck: x.HealthCheck, VIPs: x.VIPs,
	}
}

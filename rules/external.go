package rules

// Chains for external IPs, load balancers, health checks and the dummy-link
// port filter (filter table), after kube-proxy's KUBE-PROXY-FIREWALL,
// KUBE-SOURCE-RANGES-FIREWALL, KUBE-NODE-PORT (filter) and KUBE-IPVS-FILTER.
const (
	FirewallChain     = "IPVS-PROXY-FIREWALL"
	SourceRangesChain = "IPVS-PROXY-SOURCE-RANGES"
	HealthCheckChain  = "IPVS-PROXY-HEALTH-CHECK"
	VIPFilterChain    = "IPVS-PROXY-VIP-FILTER"
	// OutFilterChain (mangle, from OUTPUT) drops the node's own connections
	// to a load balancer whose source ranges exclude every node address.
	OutFilterChain = "IPVS-PROXY-OUT-FILTER"
)

// ExternalSets names the ipsets the external rules match (see
// desired.ExternalSets for what each holds). The zero value leaves the
// external rules out.
type ExternalSets struct {
	ExternalIP, ExternalIPLocal     string // hash:ip,port
	LoadBalancer, LoadBalancerLocal string // hash:ip,port
	NodePortLocal                   string // hash:ip,port
	LBFirewall                      string // hash:ip,port
	LBSourceCIDR                    string // hash:ip,port,net
	LBSourceIP                      string // hash:ip,port,ip
	HealthCheck                     string // hash:ip,port
	VIPs                            string // hash:ip
}

func (x ExternalSets) enabled() bool { return x != ExternalSets{} }

// names lists the sets for Validate.
func (x ExternalSets) names() []struct{ what, name string } {
	return []struct{ what, name string }{
		{"external IP", x.ExternalIP}, {"external IP local", x.ExternalIPLocal},
		{"load balancer", x.LoadBalancer}, {"load balancer local", x.LoadBalancerLocal},
		{"node port local", x.NodePortLocal}, {"load balancer firewall", x.LBFirewall},
		{"source CIDR", x.LBSourceCIDR}, {"source IP", x.LBSourceIP},
		{"health check", x.HealthCheck}, {"VIPs", x.VIPs},
	}
}

// externalServices returns the nat IPVS-PROXY-SERVICES rules that go before
// the node-port rule: traffic to external IPs and load-balancer IPs is
// marked for masquerade, except for Services with externalTrafficPolicy
// Local and a local endpoint (the -LOCAL sets), whose traffic keeps its
// source address; the same exemption for their node ports.
func externalServices(s Spec) []string {
	x := s.External
	if !x.enabled() {
		return nil
	}
	toMarkMasq := "-j " + MarkMasqChain
	return []string{
		rule(comment("ipvs-proxy: external IP traffic with externalTrafficPolicy Local keeps its source"),
			matchSet(x.ExternalIPLocal, "dst,dst"), "-j RETURN"),
		rule(comment("ipvs-proxy: external IP traffic"), matchSet(x.ExternalIP, "dst,dst"), toMarkMasq),
		rule(comment("ipvs-proxy: load balancer traffic with externalTrafficPolicy Local keeps its source"),
			matchSet(x.LoadBalancerLocal, "dst,dst"), "-j RETURN"),
		rule(comment("ipvs-proxy: load balancer traffic"), matchSet(x.LoadBalancer, "dst,dst"), toMarkMasq),
		rule(comment("ipvs-proxy: node port traffic with externalTrafficPolicy Local keeps its source"),
			matchSet(x.NodePortLocal, "dst,dst"), "-j RETURN"),
	}
}

// externalFilter returns the filter chains and jumps of the external rules:
//
//   - IPVS-PROXY-FIREWALL (from INPUT and FORWARD): traffic to a load
//     balancer with loadBalancerSourceRanges goes through
//     IPVS-PROXY-SOURCE-RANGES, which lets in sources inside a range (and
//     the node itself when a node address is in one) and drops the rest;
//   - IPVS-PROXY-HEALTH-CHECK (from INPUT) accepts health-check node ports;
//   - IPVS-PROXY-VIP-FILTER (from INPUT) rejects new connections to an
//     address on the dummy link on a port that is no Service's, so VIPs never
//     expose host sockets (kube-proxy's KUBE-IPVS-FILTER).
func externalFilter(s Spec) ([]Chain, []Jump) {
	x := s.External
	if !x.enabled() {
		return nil, nil
	}
	reject := "-j REJECT --reject-with icmp-port-unreachable"
	if s.Family == IPv6 {
		reject = "-j REJECT --reject-with icmp6-port-unreachable"
	}
	chains := []Chain{
		{Name: FirewallChain, Rules: []string{
			rule(comment("ipvs-proxy: load balancer with source ranges"), matchSet(x.LBFirewall, "dst,dst"), "-j", SourceRangesChain),
		}},
		{Name: HealthCheckChain, Rules: []string{
			rule(comment("ipvs-proxy: health check node ports"), matchSet(x.HealthCheck, "dst,dst"), "-j ACCEPT"),
		}},
		{Name: SourceRangesChain, Rules: []string{
			rule(comment("ipvs-proxy: source in loadBalancerSourceRanges"), matchSet(x.LBSourceCIDR, "dst,dst,src"), "-j RETURN"),
			rule(comment("ipvs-proxy: node-local source allowed by loadBalancerSourceRanges"), matchSet(x.LBSourceIP, "dst,dst,src"), "-j RETURN"),
			rule(comment("ipvs-proxy: source outside loadBalancerSourceRanges"), "-j DROP"),
		}},
		{Name: VIPFilterChain, Rules: []string{
			rule(matchSet(x.LoadBalancer, "dst,dst"), "-j RETURN"),
			rule(matchSet(s.ClusterIPSet, "dst,dst"), "-j RETURN"),
			rule(matchSet(x.ExternalIP, "dst,dst"), "-j RETURN"),
			rule(matchSet(x.HealthCheck, "dst,dst"), "-j RETURN"),
			rule(comment("ipvs-proxy: no service on this port of a service address"),
				"-m conntrack --ctstate NEW", matchSet(x.VIPs, "dst"), reject),
		}},
	}
	jumps := []Jump{
		{Chain: "FORWARD", Rule: rule(comment("ipvs-proxy firewall rules"), "-j", FirewallChain)},
		{Chain: "INPUT", Rule: rule(comment("ipvs-proxy firewall rules"), "-j", FirewallChain)},
		{Chain: "INPUT", Rule: rule(comment("ipvs-proxy health check rules"), "-j", HealthCheckChain)},
		{Chain: "INPUT", Rule: rule(comment("ipvs-proxy service address filter"), "-j", VIPFilterChain)},
	}
	return chains, jumps
}

// externalMangle returns the mangle table of the external rules: the node's
// own connections to a load balancer with loadBalancerSourceRanges are
// dropped unless a node address lies in a range (its LBSourceIP member, LB
// IP, port, LB IP, exists), as kube-proxy's KUBE-IPVS-OUT-FILTER does. It
// must look before IPVS rewrites the destination, which it does right after
// nat OUTPUT: mangle OUTPUT still sees the load balancer's address (filter
// OUTPUT sees the pod's, which is why kube-proxy matches with -m ipvs there).
func externalMangle(s Spec) (Table, bool) {
	x := s.External
	if !x.enabled() {
		return Table{}, false
	}
	return Table{
		Name: "mangle",
		Chains: []Chain{{Name: OutFilterChain, Rules: []string{
			rule(comment("ipvs-proxy: node-local traffic to a load balancer whose source ranges exclude the node"),
				matchSet(x.LBFirewall, "dst,dst"), "-m set ! --match-set", x.LBSourceIP, "dst,dst,dst", "-j DROP"),
		}}},
		Jumps: []Jump{{Chain: "OUTPUT", Rule: rule(comment("ipvs-proxy load balancer node access"), "-j", OutFilterChain)}},
	}, true
}

package cleanup

import "github.com/ipvs-proxy/ipvs-proxy/rules"

// kube-proxy's IPVS mode names (pkg/proxy/ipvs: ipsetInfo, iptablesChains).
// The chains kubelet owns (KUBE-FIREWALL, KUBE-KUBELET-CANARY) are not here.
var (
	kubeProxySets = []string{
		"KUBE-LOOP-BACK", "KUBE-CLUSTER-IP", "KUBE-EXTERNAL-IP", "KUBE-EXTERNAL-IP-LOCAL",
		"KUBE-LOAD-BALANCER", "KUBE-LOAD-BALANCER-FW", "KUBE-LOAD-BALANCER-LOCAL",
		"KUBE-LOAD-BALANCER-SOURCE-IP", "KUBE-LOAD-BALANCER-SOURCE-CIDR",
		"KUBE-NODE-PORT-TCP", "KUBE-NODE-PORT-LOCAL-TCP", "KUBE-NODE-PORT-UDP", "KUBE-NODE-PORT-LOCAL-UDP",
		"KUBE-NODE-PORT-SCTP-HASH", "KUBE-NODE-PORT-LOCAL-SCTP-HASH", "KUBE-HEALTH-CHECK-NODE-PORT", "KUBE-IPVS-IPS",
	}
	kubeProxyChains = map[string][]string{
		"nat": {"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"},
		"filter": {"KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL",
			"KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER"},
	}
)

// KubeProxySetNames are kube-proxy's IPVS-mode sets, IPv4 names and the
// IPv6 ones (kube-proxy writes "KUBE-6-" for "KUBE-" and cuts the name to
// the kernel's 31 characters).
func KubeProxySetNames() []string {
	out := append([]string(nil), kubeProxySets...)
	for _, s := range kubeProxySets {
		n := "KUBE-6-" + s[len("KUBE-"):]
		out = append(out, n[:min(len(n), 31)])
	}
	return out
}

// KubeProxyChains are kube-proxy's IPVS-mode chains per table.
func KubeProxyChains() map[string][]string { return kubeProxyChains }

// families are the iptables families cleaned.
var families = []rules.Family{rules.IPv4, rules.IPv6}

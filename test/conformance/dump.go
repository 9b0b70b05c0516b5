// Package conformance compares the kernel state kube-proxy (IPVS mode) and
// ipvs-proxy program for the same objects: `ipvsadm -Sn`, the dummy-link
// addresses and the ipset members mapped by role. The comparison is pure
// (this file and compare.go, tested on any host); the differential run
// itself (conformance_test.go) needs the hack/sandbox guest and starts both
// proxies in their own network namespaces (see README.md, "Conformance").
package conformance

import (
	"fmt"
	"sort"
	"strings"
)

// Dump is one proxy's kernel state as canonical lines, sorted:
//
//	ipvs -A -t 10.96.0.1:443 -s rr
//	addr 10.96.0.1/32
//	set cluster-ip 10.96.0.1,tcp:443
//
// Set lines name the role of the set, not the set (KUBE-CLUSTER-IP and
// IPVS-PROXY-CLUSTER-IP are both "cluster-ip"; IPv6 sets get "6":
// "cluster-ip6"), so the two proxies compare member by member.
type Dump []string

// Parse builds a Dump from the outputs of `ipvsadm -Sn`, `ip -o addr show
// dev DUMMY` and `ipset save`.
func Parse(ipvsadm, addrs, ipsetSave string) Dump {
	var d Dump
	for _, l := range lines(ipvsadm) {
		d = append(d, "ipvs "+strings.Join(strings.Fields(l), " "))
	}
	for _, l := range lines(addrs) {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if (f[i] == "inet" || f[i] == "inet6") && !strings.HasPrefix(f[i+1], "fe80:") {
				d = append(d, "addr "+f[i+1])
			}
		}
	}
	seen := map[string]bool{}
	for _, l := range lines(ipsetSave) {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "add" {
			continue
		}
		role, entry := Member(f[1], f[2])
		if s := "set " + role + " " + entry; !seen[s] {
			seen[s] = true
			d = append(d, s)
		}
	}
	sort.Strings(d)
	return d
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// roles maps set names without their prefix (KUBE-, KUBE-6-, IPVS-PROXY-,
// IPVS-PROXY6-) to roles. kube-proxy keeps node ports in one set per
// protocol (bitmap:port, or hash:ip,port for SCTP) where ipvs-proxy has one
// hash:ip,port set of node address and protocol:port; both map to the
// member "protocol:port" (the addresses are compared in ipvsadm's lines).
var roles = map[string]string{
	// kube-proxy (pkg/proxy/ipvs/ipset.go)
	"KUBE-CLUSTER-IP":                "cluster-ip",
	"KUBE-LOOP-BACK":                 "hairpin",
	"KUBE-EXTERNAL-IP":               "external-ip",
	"KUBE-EXTERNAL-IP-LOCAL":         "external-ip-local",
	"KUBE-LOAD-BALANCER":             "load-balancer",
	"KUBE-LOAD-BALANCER-LOCAL":       "load-balancer-local",
	"KUBE-LOAD-BALANCER-FW":          "lb-firewall",
	"KUBE-LOAD-BALANCER-SOURCE-IP":   "lb-source-ip",
	"KUBE-LOAD-BALANCER-SOURCE-CIDR": "lb-source-cidr",
	"KUBE-NODE-PORT-TCP":             "node-port",
	"KUBE-NODE-PORT-UDP":             "node-port",
	"KUBE-NODE-PORT-SCTP-HASH":       "node-port",
	"KUBE-NODE-PORT-LOCAL-TCP":       "node-port-local",
	"KUBE-NODE-PORT-LOCAL-UDP":       "node-port-local",
	"KUBE-NODE-PORT-LOCAL-SCTP-HASH": "node-port-local",
	"KUBE-HEALTH-CHECK-NODE-PORT":    "health-check",
	"KUBE-IPVS-IPS":                  "vips",
	// ipvs-proxy (desired/names.go, desired/extsets.go)
	"IPVS-PROXY-CLUSTER-IP":          "cluster-ip",
	"IPVS-PROXY-HAIRPIN":             "hairpin",
	"IPVS-PROXY-EXTERNAL-IP":         "external-ip",
	"IPVS-PROXY-EXTERNAL-IP-LOCAL":   "external-ip-local",
	"IPVS-PROXY-LOAD-BALANCER":       "load-balancer",
	"IPVS-PROXY-LOAD-BALANCER-LOCAL": "load-balancer-local",
	"IPVS-PROXY-LB-FW":               "lb-firewall",
	"IPVS-PROXY-LB-SOURCE-IP":        "lb-source-ip",
	"IPVS-PROXY-LB-SOURCE-CIDR":      "lb-source-cidr",
	"IPVS-PROXY-NODE-PORT":           "node-port",
	"IPVS-PROXY-NODE-PORT-LOCAL":     "node-port-local",
	"IPVS-PROXY-HEALTH-CHECK":        "health-check",
	"IPVS-PROXY-IPS":                 "vips",
}

// Member maps one member of set to its role and canonical entry. A set of
// neither proxy keeps its name as role ("other:NAME").
func Member(set, entry string) (role, canonical string) {
	name, six := set, ""
	switch {
	case strings.HasPrefix(set, "KUBE-6-"):
		name, six = "KUBE-"+strings.TrimPrefix(set, "KUBE-6-"), "6"
	case strings.HasPrefix(set, "IPVS-PROXY6-"):
		name, six = "IPVS-PROXY-"+strings.TrimPrefix(set, "IPVS-PROXY6-"), "6"
	}
	role = roles[name]
	if role == "" && six != "" && len(set) == 31 {
		// kube-proxy truncates IPv6 set names to 31 characters
		// (KUBE-6-LOAD-BALANCER-SOURCE-CIDR -> ...-CID).
		for full, r := range roles {
			if strings.HasPrefix(full, name) {
				role = r
			}
		}
	}
	if role == "" {
		return "other:" + set, entry
	}
	switch role {
	case "node-port", "node-port-local", "health-check":
		entry = portOnly(set, entry)
	}
	return role + six, entry
}

// portOnly reduces a node-port or health-check member to "protocol:port":
// "30080" in KUBE-NODE-PORT-TCP, "192.168.1.2,sctp:30080" and
// "192.168.1.2,tcp:30080" in the hash sets.
func portOnly(set, entry string) string {
	if i := strings.LastIndexByte(entry, ','); i >= 0 {
		return entry[i+1:]
	}
	if strings.Contains(entry, ":") {
		return entry
	}
	proto := "tcp"
	switch {
	case strings.HasSuffix(set, "-UDP"):
		proto = "udp"
	case strings.HasSuffix(set, "-SCTP"):
		proto = "sctp"
	}
	return fmt.Sprintf("%s:%s", proto, entry)
}

package ipset

import "net/netip"

// Conformance rules for the set types the external-IP and load-balancer
// features use: hash:ip,port,net (source ranges) and hash:ip (dummy-link
// addresses). They join the shared rules, so they run on the Fake and, in the
// sandbox, on the kernel.

func epn(ip, proto string, port uint16, net string) Entry {
	e := ep(ip, proto, port)
	e.Net = netip.MustParsePrefix(net)
	return e
}

func ipOnly(ip string) Entry { return Entry{IP: netip.MustParseAddr(ip)} }

var (
	v4PortNet = Set{Name: "T-V4-PORT-NET", Type: HashIPPortNet, Family: FamilyInet}
	v6PortNet = Set{Name: "T-V6-PORT-NET", Type: HashIPPortNet, Family: FamilyInet6}
	v4IP      = Set{Name: "T-V4-IP", Type: HashIP, Family: FamilyInet}
	v6IP      = Set{Name: "T-V6-IP", Type: HashIP, Family: FamilyInet6}
)

func init() {
	rules = append(rules,
		rule{"hash:ip,port,net members", []step{
			ensure(v4PortNet),
			add(v4PortNet, epn("203.0.113.7", "tcp", 80, "198.51.100.0/24")),
			add(v4PortNet, epn("203.0.113.7", "tcp", 80, "192.0.2.9/32")),
			list(v4PortNet, epn("203.0.113.7", "tcp", 80, "192.0.2.9/32"), epn("203.0.113.7", "tcp", 80, "198.51.100.0/24")),
			del(v4PortNet, epn("203.0.113.7", "tcp", 80, "192.0.2.9/32")),
			list(v4PortNet, epn("203.0.113.7", "tcp", 80, "198.51.100.0/24")),
		}},
		rule{"hash:ip,port,net IPv6 members", []step{
			ensure(v6PortNet),
			add(v6PortNet, epn("2001:db8::7", "udp", 53, "2001:db8:1::/48")),
			list(v6PortNet, epn("2001:db8::7", "udp", 53, "2001:db8:1::/48")),
		}},
		rule{"hash:ip,port,net needs the network", []step{
			ensure(v4PortNet), add(v4PortNet, ep("203.0.113.7", "tcp", 80)).fails(errAny), list(v4PortNet),
		}},
		rule{"hash:ip,port takes no network", []step{
			ensure(v4Port), add(v4Port, epn("203.0.113.7", "tcp", 80, "198.51.100.0/24")).fails(errAny), list(v4Port),
		}},
		rule{"hash:ip members", []step{
			ensure(v4IP), ensure(v6IP),
			add(v4IP, ipOnly("10.96.0.10")), add(v4IP, ipOnly("203.0.113.7")), add(v6IP, ipOnly("fd00::a")),
			list(v4IP, ipOnly("10.96.0.10"), ipOnly("203.0.113.7")),
			list(v6IP, ipOnly("fd00::a")),
			del(v4IP, ipOnly("10.96.0.10")),
			list(v4IP, ipOnly("203.0.113.7")),
		}},
		rule{"hash:ip takes no port", []step{
			ensure(v4IP), add(v4IP, ep("10.96.0.10", "tcp", 80)).fails(errAny), list(v4IP),
		}},
	)
}

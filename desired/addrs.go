package desired

import "net/netip"

// broadcast4 is the limited broadcast address, which no virtual or real
// server can use.
var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// unusable tells why a cluster IP can never work ("" when it can): the
// kernel refuses unspecified, multicast and broadcast virtual servers, and a
// loopback cluster IP would capture the node's own loopback traffic.
func unusable(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsMulticast():
		return "multicast"
	case a == broadcast4:
		return "broadcast"
	}
	return ""
}

// unusableEndpoint is unusable plus link-local unicast: a real server must be
// reachable from every node, and a link-local address is only reachable on
// one link (IPVS answers EINVAL or silently blackholes).
func unusableEndpoint(a netip.Addr) string {
	if why := unusable(a); why != "" {
		return why
	}
	if a.IsLinkLocalUnicast() {
		return "link-local"
	}
	return ""
}

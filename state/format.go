package state

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// ServiceList returns the virtual servers as ipvs.Service values, sorted as
// `ipvsadm -Sn` sorts them.
func (s State) ServiceList() []ipvs.Service {
	out := make([]ipvs.Service, 0, len(s.Services))
	for _, svc := range s.Services {
		out = append(out, ipvs.Service{VirtualServer: svc.VirtualServer, RealServers: svc.RealServers.Slice()})
	}
	slices.SortFunc(out, func(a, b ipvs.Service) int { return a.Key.Compare(b.Key) })
	return out
}

// Format renders the state in three sections: first exactly the lines
// `ipvsadm -Sn` prints for these virtual servers, then the addresses on the
// dummy link, then the ipset members in `ipset save` syntax.
func (s State) Format(dummy string) string {
	var b strings.Builder
	b.WriteString(ipvs.Format(s.ServiceList()))
	b.WriteString("# addresses on " + dummy + "\n")
	addrs := slices.Collect(maps.Keys(s.Addresses))
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		bits := 32
		if a.Is6() {
			bits = 128
		}
		b.WriteString(a.String() + "/" + strconv.Itoa(bits) + "\n")
	}
	b.WriteString("# ipset members\n")
	bySet := map[string][]ipset.Entry{}
	for m := range s.Members.All() {
		bySet[m.Set] = append(bySet[m.Set], m.Entry)
	}
	for _, name := range slices.Sorted(maps.Keys(bySet)) {
		b.WriteString(ipset.FormatMembers(name, bySet[name]))
	}
	return b.String()
}

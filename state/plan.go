package state

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// RealServerOp is a real server under its virtual server.
type RealServerOp struct {
	Service    ipvs.Key
	RealServer ipvs.RealServer
}

// Plan is the list of kernel operations that turns one State into another,
// grouped in the order they are applied: ipset members (the ownership
// ledger) and addresses first, then virtual servers before their real
// servers, then removals, ledger entries last. Every list is sorted. Ops
// flattens it into the operations with their dependencies.
type Plan struct {
	AddMembers        MemberList
	AddAddresses      []netip.Addr
	AddServices       []ipvs.VirtualServer
	UpdateServices    []ipvs.VirtualServer
	AddRealServers    RealServerAdds
	UpdateRealServers []RealServerOp
	DeleteRealServers []RealServerOp
	DeleteServices    []ipvs.Key
	DeleteAddresses   []netip.Addr
	DeleteMembers     []Member
}

// Diff returns the plan that turns observed into desired. Virtual servers whose
// scheduler or persistence differ, and real servers whose weight or forwarding
// differ, are changed in place; nothing that exists is deleted to be re-added.
func Diff(desired, observed State) Plan {
	p := reserved(desired, observed)
	for k, want := range desired.Services {
		p.diffService(k, want, observed.Services[k])
	}
	for k := range observed.Services {
		if _, ok := desired.Services[k]; !ok {
			p.DeleteServices = append(p.DeleteServices, k)
		}
	}
	for a := range desired.Addresses {
		if _, ok := observed.Addresses[a]; !ok {
			p.AddAddresses = append(p.AddAddresses, a)
		}
	}
	for a := range observed.Addresses {
		if _, ok := desired.Addresses[a]; !ok {
			p.DeleteAddresses = append(p.DeleteAddresses, a)
		}
	}
	for m := range desired.Members.All() {
		if !observed.Members.Has(m) {
			p.AddMembers.Append(m)
		}
	}
	for m := range observed.Members.All() {
		if !desired.Members.Has(m) {
			p.DeleteMembers = append(p.DeleteMembers, m)
		}
	}
	return p.done()
}

// diffService adds to p what turns the virtual server k from have (nil:
// none) into want.
func (p *Plan) diffService(k ipvs.Key, want, have *Service) {
	if have == nil {
		p.AddServices = append(p.AddServices, want.VirtualServer)
		p.AddRealServers.AddList(k, want.RealServers)
		return
	}
	if have.VirtualServer != want.VirtualServer {
		p.UpdateServices = append(p.UpdateServices, want.VirtualServer)
	}
	p.diffRealServers(k, want.RealServers, have.RealServers)
}

// DiffWanted is Diff with the desired state read in place (see Wanted):
// the same plan, one item at a time through the interface. Diff keeps its
// own loops over the maps for the incremental syncs' small States, where
// the iterators' closures would be most of the allocations; TestIndexProperty
// checks that the two agree.
func DiffWanted(desired Wanted, observed State) Plan {
	if s, ok := desired.(State); ok {
		return Diff(s, observed)
	}
	p := reservedWanted(desired, observed)
	for k, want := range desired.EachService() {
		p.diffService(k, want, observed.Services[k])
	}
	for k := range observed.Services {
		if desired.WantService(k) == nil {
			p.DeleteServices = append(p.DeleteServices, k)
		}
	}
	for a := range desired.EachAddress() {
		if _, ok := observed.Addresses[a]; !ok {
			p.AddAddresses = append(p.AddAddresses, a)
		}
	}
	for a := range observed.Addresses {
		if !desired.WantsAddress(a) {
			p.DeleteAddresses = append(p.DeleteAddresses, a)
		}
	}
	for m := range desired.EachMember() {
		if !observed.Members.Has(m) {
			p.AddMembers.Append(m)
		}
	}
	for m := range observed.Members.All() {
		if !desired.WantsMember(m) {
			p.DeleteMembers = append(p.DeleteMembers, m)
		}
	}
	return p.done()
}

// done sorts p and keeps its empty add lists nil.
func (p Plan) done() Plan {
	p.sort()
	p.AddServices = nilIfEmpty(p.AddServices)
	p.AddAddresses = nilIfEmpty(p.AddAddresses)
	return p
}

// diffRealServers adds to p what turns the real servers have of virtual
// server k into want: one merge of the two sorted lists, nothing at all
// when they are one list (the kernel cache shares the desired index's).
func (p *Plan) diffRealServers(k ipvs.Key, want, have RealServers) {
	if want.Shares(have) {
		return
	}
	w, h := want.s, have.s
	for len(w) > 0 || len(h) > 0 {
		c := -1
		switch {
		case len(w) == 0:
			c = 1
		case len(h) > 0:
			c = compareKeys(w[0], h[0])
		}
		switch {
		case c < 0:
			p.AddRealServers.Append(RealServerOp{k, w[0].realServer()})
			w = w[1:]
		case c > 0:
			p.DeleteRealServers = append(p.DeleteRealServers, RealServerOp{k, h[0].realServer()})
			h = h[1:]
		default:
			if w[0] != h[0] {
				p.UpdateRealServers = append(p.UpdateRealServers, RealServerOp{k, w[0].realServer()})
			}
			w, h = w[1:], h[1:]
		}
	}
}

// nilIfEmpty keeps an empty list nil, as a Plan without reserved room has it.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// reserved returns a Plan whose add lists have room for what desired holds
// beyond observed: exact for a cold sync (observed empty), where append's
// growth would otherwise allocate the largest list (a million real servers
// at 100k Services) several times over.
func reserved(desired, observed State) Plan {
	var vs, rs int
	for k, want := range desired.Services {
		if _, ok := observed.Services[k]; !ok {
			vs++
			rs += want.RealServers.Len()
		}
	}
	return withRoom(vs, rs, len(desired.Addresses)-len(observed.Addresses), desired.Members.Len()-observed.Members.Len())
}

// reservedWanted is reserved for a Wanted.
func reservedWanted(desired Wanted, observed State) Plan {
	var vs, rs int
	for k, want := range desired.EachService() {
		if _, ok := observed.Services[k]; !ok {
			vs++
			rs += want.RealServers.Len()
		}
	}
	_, addrs, members := desired.Sizes()
	return withRoom(vs, rs, addrs-len(observed.Addresses), members-observed.Members.Len())
}

// withRoom returns a Plan with room for vs virtual servers, rs real
// servers, addrs addresses and members members to add.
func withRoom(vs, rs, addrs, members int) Plan {
	var p Plan
	if vs > 0 {
		p.AddServices = make([]ipvs.VirtualServer, 0, vs)
		p.AddRealServers.grow(vs)
	}
	if addrs > 0 {
		p.AddAddresses = make([]netip.Addr, 0, addrs)
	}
	if members > 0 {
		p.AddMembers.grow(members)
	}
	return p
}

func (p *Plan) sort() {
	vsCmp := func(a, b ipvs.VirtualServer) int { return a.Key.Compare(b.Key) }
	rsCmp := func(a, b RealServerOp) int {
		if c := a.Service.Compare(b.Service); c != 0 {
			return c
		}
		return a.RealServer.RealServerKey.Compare(b.RealServer.RealServerKey)
	}
	p.AddMembers.sort()
	slices.SortFunc(p.AddAddresses, netip.Addr.Compare)
	slices.SortFunc(p.AddServices, vsCmp)
	slices.SortFunc(p.UpdateServices, vsCmp)
	p.AddRealServers.sort()
	slices.SortFunc(p.UpdateRealServers, rsCmp)
	slices.SortFunc(p.DeleteRealServers, rsCmp)
	slices.SortFunc(p.DeleteServices, ipvs.Key.Compare)
	slices.SortFunc(p.DeleteAddresses, netip.Addr.Compare)
	slices.SortFunc(p.DeleteMembers, compareMember)
}

func compareMember(a, b Member) int {
	if c := strings.Compare(a.Set, b.Set); c != 0 {
		return c
	}
	return a.Entry.Compare(b.Entry)
}

// Empty tells whether the plan changes nothing.
func (p Plan) Empty() bool { return p.Len() == 0 }

// Len is the number of kernel operations in the plan.
func (p Plan) Len() int {
	return p.AddMembers.Len() + len(p.AddAddresses) + len(p.AddServices) + len(p.UpdateServices) +
		p.AddRealServers.Len() + len(p.UpdateRealServers) + len(p.DeleteRealServers) +
		len(p.DeleteServices) + len(p.DeleteAddresses) + len(p.DeleteMembers)
}

// String prints the plan one operation a line, in the order it is applied,
// in ipvsadm and ipset syntax: "-A -t 10.96.0.10:80 -s rr", "-E ..." (edit),
// "-a ...", "-e ...", "-d -t VIP:PORT -r RIP:PORT", "-D -t VIP:PORT",
// "add SET MEMBER", "del SET MEMBER", "addr add 10.96.0.10", "addr del ...".
func (p Plan) String() string {
	var b strings.Builder
	for _, op := range p.All(nil) {
		b.WriteString(op.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ApplyTo changes s as the kernel changes when every operation succeeds: it
// runs Ops against s.
func (p Plan) ApplyTo(s *State) {
	s.init()
	for _, op := range p.All(nil) {
		op.ApplyTo(s)
	}
}

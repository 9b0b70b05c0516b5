// Package state is the pure heart of ipvs-proxy: State, the kernel content
// ipvs-proxy owns (or wants), and Diff, which turns two States into a Plan.
// Nothing here talks to the kernel or to Kubernetes.
package state

import (
	"maps"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// Service is a virtual server and its real servers.
type Service struct {
	ipvs.VirtualServer
	RealServers RealServers
	// borrowed: RealServers is another State's (see Share), read-only
	// here; State's methods copy it before the first change.
	borrowed bool
}

// own makes svc's real-server list its own before a change.
func (svc *Service) own() {
	if svc.borrowed {
		svc.RealServers = svc.RealServers.Clone()
		svc.borrowed = false
	}
}

// WithVirtualServer returns a copy of svc with virtual server vs and the
// same real servers (shared: change neither list in place).
func (svc *Service) WithVirtualServer(vs ipvs.VirtualServer) *Service {
	out := *svc
	out.VirtualServer = vs
	out.borrowed = true
	return &out
}

// Member is one entry of one of our ipsets.
type Member struct {
	Set   string
	Entry ipset.Entry
}

// State is what ipvs-proxy owns in the kernel, or wants there: virtual
// servers, addresses on the dummy link, and members of our ipsets. A zero
// State is empty and usable.
type State struct {
	Services  map[ipvs.Key]*Service
	Addresses map[netip.Addr]struct{}
	Members   MemberSet
}

// New returns an empty State with its maps made.
func New() State {
	return State{
		Services:  map[ipvs.Key]*Service{},
		Addresses: map[netip.Addr]struct{}{},
		Members:   NewMemberSet(0),
	}
}

// NewCache returns an empty State whose members are kept set by set
// (NewMemberSetBySet): the kernel cache's, whose sets are read one at a
// time.
func NewCache() State {
	s := New()
	s.Members = NewMemberSetBySet()
	return s
}

// AddService adds (or replaces the virtual server of) vs and returns it.
func (s *State) AddService(vs ipvs.VirtualServer) *Service {
	s.init()
	if svc, ok := s.Services[vs.Key]; ok {
		svc.VirtualServer = vs
		return svc
	}
	svc := &Service{VirtualServer: vs}
	s.Services[vs.Key] = svc
	return svc
}

// AddRealServer adds rs under the virtual server k, which must exist.
func (s *State) AddRealServer(k ipvs.Key, rs ipvs.RealServer) {
	if svc, ok := s.Services[k]; ok {
		if svc.borrowed && svc.RealServers.extend(rs) {
			return // the view (ShareFirst) already holds rs next
		}
		svc.own()
		svc.RealServers.Set(rs)
	}
}

// AddAddress records an address on the dummy link.
func (s *State) AddAddress(a netip.Addr) {
	s.init()
	s.Addresses[a] = struct{}{}
}

// AddMember records an ipset member.
func (s *State) AddMember(set string, e ipset.Entry) {
	s.init()
	s.Members.Add(Member{Set: set, Entry: e})
}

func (s *State) init() {
	if s.Services == nil {
		s.Services = map[ipvs.Key]*Service{}
	}
	if s.Addresses == nil {
		s.Addresses = map[netip.Addr]struct{}{}
	}
	s.Members.init()
}

// Reserve makes room in s's maps for what p adds, when p adds more than s
// holds (a cold sync): one allocation per map instead of a growing series.
func (s *State) Reserve(p Plan) {
	s.init()
	s.Services = reserve(s.Services, len(p.AddServices))
	s.Addresses = reserve(s.Addresses, len(p.AddAddresses))
	s.Members.Reserve(p.AddMembers.keys)
}

func reserve[K comparable, V any](m map[K]V, more int) map[K]V {
	if more <= len(m) {
		return m
	}
	out := make(map[K]V, len(m)+more)
	maps.Copy(out, m)
	return out
}

// Clone returns a deep copy.
func (s State) Clone() State {
	out := New()
	for k, svc := range s.Services {
		out.Services[k] = &Service{VirtualServer: svc.VirtualServer, RealServers: svc.RealServers.Clone()}
	}
	maps.Copy(out.Addresses, s.Addresses)
	out.Members = s.Members.Clone()
	out.Members.init()
	return out
}

// Merge adds everything in o to s (o's virtual server wins on a conflict).
func (s *State) Merge(o State) {
	s.init()
	for _, svc := range o.Services {
		dst := s.AddService(svc.VirtualServer)
		dst.own()
		for rs := range svc.RealServers.All() {
			dst.RealServers.Set(rs)
		}
	}
	maps.Copy(s.Addresses, o.Addresses)
	s.Members.AddSet(o.Members)
}

// Scope names the parts of a State an incremental sync looks at.
type Scope struct {
	Services  map[ipvs.Key]struct{}
	Addresses map[netip.Addr]struct{}
	Members   map[Member]struct{}
}

// NewScope returns an empty Scope.
func NewScope() Scope {
	return Scope{Services: map[ipvs.Key]struct{}{}, Addresses: map[netip.Addr]struct{}{}, Members: map[Member]struct{}{}}
}

// Cover adds every key of st to the scope.
func (sc Scope) Cover(st State) {
	for k := range st.Services {
		sc.Services[k] = struct{}{}
	}
	for a := range st.Addresses {
		sc.Addresses[a] = struct{}{}
	}
	for m := range st.Members.All() {
		sc.Members[m] = struct{}{}
	}
}

// Union adds every key of o to the scope.
func (sc Scope) Union(o Scope) {
	for k := range o.Services {
		sc.Services[k] = struct{}{}
	}
	for a := range o.Addresses {
		sc.Addresses[a] = struct{}{}
	}
	for m := range o.Members {
		sc.Members[m] = struct{}{}
	}
}

// Empty tells whether the scope covers nothing.
func (sc Scope) Empty() bool {
	return len(sc.Services) == 0 && len(sc.Addresses) == 0 && len(sc.Members) == 0
}

// Restrict returns the part of s inside the scope. It shares Service values
// with s: treat the result as read-only.
func (s State) Restrict(sc Scope) State {
	out := New()
	for k := range sc.Services {
		if svc, ok := s.Services[k]; ok {
			out.Services[k] = svc
		}
	}
	for a := range sc.Addresses {
		if _, ok := s.Addresses[a]; ok {
			out.Addresses[a] = struct{}{}
		}
	}
	for m := range sc.Members {
		if s.Members.Has(m) {
			out.Members.Add(m)
		}
	}
	return out
}

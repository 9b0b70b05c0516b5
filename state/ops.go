package state

import (
	"iter"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// OpKind is the kind of one kernel operation of a Plan.
type OpKind uint8

// The kinds, in the order a Plan runs them.
const (
	AddMember OpKind = iota
	AddAddress
	AddService
	UpdateService
	AddRealServer
	UpdateRealServer
	DeleteRealServer
	DeleteService
	DeleteAddress
	DeleteMember
)

var kindNames = [...]string{"add member", "add address", "add virtual server", "update virtual server",
	"add real server", "update real server", "delete real server", "delete virtual server",
	"delete address", "delete member"}

// String names the kind ("add virtual server").
func (k OpKind) String() string { return kindNames[k] }

// Op is one kernel operation. Which fields are set depends on Kind: Member
// for member ops, Address for address ops, Service for virtual-server ops
// (only its Key for a delete) and for real-server ops (the virtual server
// they belong to, again only its Key), RealServer for real-server ops.
type Op struct {
	Kind       OpKind
	Member     Member
	Address    netip.Addr
	Service    ipvs.VirtualServer
	RealServer ipvs.RealServer
	// Deps are the indexes (all smaller than this op's) of the operations
	// that must have succeeded before this one may run. An executor skips
	// an op one of whose Deps failed or was skipped.
	Deps []int
}

// Recorder tells what a ledger member records: the virtual server k (ok is
// false for a member that records nothing, such as a hairpin entry) and
// whether it also records k's address on the dummy link. ledger.Records is
// the one the reconciler uses; state itself knows nothing of the ledger.
type Recorder func(m Member) (k ipvs.Key, ok, address bool)

// VirtualServer returns the virtual server the op creates, changes or
// removes, or the one its real server belongs to; ok is false for member and
// address ops.
func (o Op) VirtualServer() (ipvs.Key, bool) {
	switch o.Kind {
	case AddMember, AddAddress, DeleteAddress, DeleteMember:
		return ipvs.Key{}, false
	}
	return o.Service.Key, true
}

// String is the op's line in Plan.String.
func (o Op) String() string {
	switch o.Kind {
	case AddMember:
		return "add " + o.Member.Set + " " + o.Member.Entry.String()
	case AddAddress:
		return "addr add " + o.Address.String()
	case AddService:
		return o.Service.String()
	case UpdateService:
		return "-E" + o.Service.String()[2:]
	case AddRealServer:
		return o.RealServer.Line(o.Service.Key)
	case UpdateRealServer:
		return "-e" + o.RealServer.Line(o.Service.Key)[2:]
	case DeleteRealServer:
		return "-d " + o.Service.Key.String() + " -r " + o.RealServer.RealServerKey.String()
	case DeleteService:
		return "-D " + o.Service.Key.String()
	case DeleteAddress:
		return "addr del " + o.Address.String()
	case DeleteMember:
		return "del " + o.Member.Set + " " + o.Member.Entry.String()
	}
	return "?"
}

// ApplyTo changes s as the kernel changes when the op succeeds.
func (o Op) ApplyTo(s *State) {
	s.init()
	switch o.Kind {
	case AddMember:
		s.Members.Add(o.Member)
	case AddAddress:
		s.Addresses[o.Address] = struct{}{}
	case AddService, UpdateService:
		s.AddService(o.Service)
	case AddRealServer, UpdateRealServer:
		s.AddRealServer(o.Service.Key, o.RealServer)
	case DeleteRealServer:
		if svc, ok := s.Services[o.Service.Key]; ok {
			svc.own()
			svc.RealServers.Delete(o.RealServer.RealServerKey)
		}
	case DeleteService:
		delete(s.Services, o.Service.Key)
	case DeleteAddress:
		delete(s.Addresses, o.Address)
	case DeleteMember:
		s.Members.Delete(o.Member)
	}
}

// Ops lists the plan's operations in the order they run (the order of
// String) with their dependencies: All collected into one slice. An
// executor of a large plan ranges over All instead, so the operations
// (hundreds of bytes each, millions in a cold sync at 100k Services) are
// never all in memory at once.
func (p Plan) Ops(rec Recorder) []Op {
	ops := make([]Op, 0, p.Len())
	for _, op := range p.All(rec) {
		ops = append(ops, op)
	}
	return ops
}

// At returns operation i of All without its Deps, computed from the plan's
// lists (for an executor that looks back at an earlier operation).
func (p Plan) At(i int) Op {
	if i < 0 {
		panic("state: negative op index")
	}
	if i < p.AddMembers.Len() {
		return Op{Kind: AddMember, Member: p.AddMembers.At(i)}
	}
	i -= p.AddMembers.Len()
	if i < len(p.AddAddresses) {
		return Op{Kind: AddAddress, Address: p.AddAddresses[i]}
	}
	i -= len(p.AddAddresses)
	if i < len(p.AddServices) {
		return Op{Kind: AddService, Service: p.AddServices[i]}
	}
	i -= len(p.AddServices)
	if i < len(p.UpdateServices) {
		return Op{Kind: UpdateService, Service: p.UpdateServices[i]}
	}
	i -= len(p.UpdateServices)
	if i < p.AddRealServers.Len() {
		op := p.AddRealServers.At(i)
		return Op{Kind: AddRealServer, Service: ipvs.VirtualServer{Key: op.Service}, RealServer: op.RealServer}
	}
	i -= p.AddRealServers.Len()
	for _, l := range []struct {
		kind OpKind
		ops  []RealServerOp
	}{{UpdateRealServer, p.UpdateRealServers}, {DeleteRealServer, p.DeleteRealServers}} {
		if i < len(l.ops) {
			return Op{Kind: l.kind, Service: ipvs.VirtualServer{Key: l.ops[i].Service}, RealServer: l.ops[i].RealServer}
		}
		i -= len(l.ops)
	}
	if i < len(p.DeleteServices) {
		return Op{Kind: DeleteService, Service: ipvs.VirtualServer{Key: p.DeleteServices[i]}}
	}
	i -= len(p.DeleteServices)
	if i < len(p.DeleteAddresses) {
		return Op{Kind: DeleteAddress, Address: p.DeleteAddresses[i]}
	}
	i -= len(p.DeleteAddresses)
	if i < len(p.DeleteMembers) {
		return Op{Kind: DeleteMember, Member: p.DeleteMembers[i]}
	}
	panic("state: op index out of range")
}

// All yields the plan's operations with their indexes, in the order they
// run (the order of String), with their dependencies. This is the one model
// of ordering: ApplyTo and the reconciler's executor both run it. With rec
// (the ledger's rules):
//   - a virtual server is added or updated, and real servers are added to or
//     updated in it, only after the members recording it were added;
//   - an address is added only after the ClusterIP members recording it;
//   - a real server is added only after its virtual server (when the plan adds it);
//   - a member recording a virtual server (or an address) is deleted only
//     after the virtual server (the address) was deleted, when the plan
//     deletes it, and after the members the plan adds to record the same
//     virtual server (address) anew, when it keeps it: nothing of ours is
//     ever left unrecorded.
//
// rec may be nil (no ledger): then only real servers depend on their
// virtual servers. Deps slices may be shared between operations: read-only.
func (p Plan) All(rec Recorder) iter.Seq2[int, Op] {
	return func(yield func(int, Op) bool) {
		n := 0
		emit := func(op Op) bool {
			ok := yield(n, op)
			n++
			return ok
		}
		// Where the ledger adds of each virtual server and address sit.
		var recVS map[ipvs.Key][]int
		var recAddr map[netip.Addr][]int
		if rec != nil && p.AddMembers.Len() > 0 {
			// Sized for a cold sync, where members record every added
			// virtual server and address: grown one by one, these maps
			// leave their earlier tables behind as garbage in the apply.
			recVS = make(map[ipvs.Key][]int, len(p.AddServices)+len(p.UpdateServices))
			recAddr = make(map[netip.Addr][]int, len(p.AddAddresses))
		}
		for _, k := range p.AddMembers.keys { // not All: its closure would cost allocations per plan
			m := p.AddMembers.member(k)
			if recVS != nil {
				if k, ok, addr := rec(m); ok {
					recVS[k] = append(recVS[k], n)
					if addr {
						recAddr[k.Address] = append(recAddr[k.Address], n)
					}
				}
			}
			if !emit(Op{Kind: AddMember, Member: m}) {
				return
			}
		}
		for _, a := range p.AddAddresses {
			if !emit(Op{Kind: AddAddress, Address: a, Deps: recAddr[a]}) {
				return
			}
		}
		// One shared (read-only) Deps slice per added virtual server for its real servers.
		added := make(map[ipvs.Key][]int, len(p.AddServices))
		addedAt := make([]int, len(p.AddServices)) // their one backing array
		for i, vs := range p.AddServices {
			addedAt[i] = n
			added[vs.Key] = addedAt[i : i+1 : i+1]
			if !emit(Op{Kind: AddService, Service: vs, Deps: recVS[vs.Key]}) {
				return
			}
		}
		for _, vs := range p.UpdateServices {
			if !emit(Op{Kind: UpdateService, Service: vs, Deps: recVS[vs.Key]}) {
				return
			}
		}
		for _, g := range p.AddRealServers.groups { // not All, as above
			deps := recVS[g.service]
			if d, ok := added[g.service]; ok {
				deps = d // the virtual server's add depends on the members itself
			}
			for _, rs := range g.rss.s {
				if !emit(Op{Kind: AddRealServer, Service: ipvs.VirtualServer{Key: g.service}, RealServer: rs.realServer(), Deps: deps}) {
					return
				}
			}
		}
		for _, op := range p.UpdateRealServers {
			if !emit(Op{Kind: UpdateRealServer, Service: ipvs.VirtualServer{Key: op.Service}, RealServer: op.RealServer, Deps: recVS[op.Service]}) {
				return
			}
		}
		for _, op := range p.DeleteRealServers {
			if !emit(Op{Kind: DeleteRealServer, Service: ipvs.VirtualServer{Key: op.Service}, RealServer: op.RealServer}) {
				return
			}
		}
		var deleted map[ipvs.Key]int
		if rec != nil && len(p.DeleteServices) > 0 {
			deleted = make(map[ipvs.Key]int, len(p.DeleteServices))
		}
		for _, k := range p.DeleteServices {
			if deleted != nil {
				deleted[k] = n
			}
			if !emit(Op{Kind: DeleteService, Service: ipvs.VirtualServer{Key: k}}) {
				return
			}
		}
		var deletedAddr map[netip.Addr]int
		if rec != nil && len(p.DeleteAddresses) > 0 {
			deletedAddr = make(map[netip.Addr]int, len(p.DeleteAddresses))
		}
		for _, a := range p.DeleteAddresses {
			if deletedAddr != nil {
				deletedAddr[a] = n
			}
			if !emit(Op{Kind: DeleteAddress, Address: a}) {
				return
			}
		}
		for _, m := range p.DeleteMembers {
			var deps []int
			if rec != nil {
				if k, ok, addr := rec(m); ok {
					if i, ok := deleted[k]; ok {
						deps = append(deps, i)
					}
					// What m records and stays must be recorded anew first.
					deps = append(deps, recVS[k]...)
					if addr {
						if i, ok := deletedAddr[k.Address]; ok {
							deps = append(deps, i)
						}
						deps = append(deps, recAddr[k.Address]...)
					}
				}
			}
			if !emit(Op{Kind: DeleteMember, Member: m, Deps: deps}) {
				return
			}
		}
	}
}

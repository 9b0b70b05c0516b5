package desired

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// memberKey is a state.Member as the Index keeps it: 40 bytes instead of
// 120 (no strings, addresses as bytes, the set and protocol as small
// numbers), for the members every fragment holds and the Index counts. A
// member it cannot hold (a net, a zone, a set or protocol not ours) stays
// a state.Member beside it (see packMember).
type memberKey struct {
	ip, ip2 [16]byte
	port    uint16
	set     uint16 // index in setNames
	proto   uint8  // index in protoNames
	flags   uint8
}

const (
	ipValid uint8 = 1 << iota
	ipIs4
	ip2Valid
	ip2Is4
)

var (
	protoNames = []string{"", "tcp", "udp", "sctp"}
	setNames   []string
	setIndex   = map[string]uint16{}
)

func init() {
	for _, s := range AllSets() {
		if _, ok := setIndex[s.Name]; !ok {
			setIndex[s.Name] = uint16(len(setNames))
			setNames = append(setNames, s.Name)
		}
	}
}

// packMember returns m as a memberKey; false when m does not fit one.
func packMember(m state.Member) (memberKey, bool) {
	e := m.Entry
	set, ok := setIndex[m.Set]
	if !ok || e.Net.IsValid() || e.IP.Zone() != "" || e.IP2.Zone() != "" || e.Net != (netip.Prefix{}) {
		return memberKey{}, false
	}
	k := memberKey{port: e.Port, set: set, proto: 255}
	for i, p := range protoNames {
		if p == e.Protocol {
			k.proto = uint8(i)
		}
	}
	if k.proto == 255 {
		return memberKey{}, false
	}
	k.ip, k.flags = packAddr(e.IP, ipValid, ipIs4)
	var f uint8
	k.ip2, f = packAddr(e.IP2, ip2Valid, ip2Is4)
	k.flags |= f
	return k, true
}

func packAddr(a netip.Addr, valid, is4 uint8) ([16]byte, uint8) {
	switch {
	case !a.IsValid():
		return [16]byte{}, 0
	case a.Is4():
		return a.As16(), valid | is4
	}
	return a.As16(), valid
}

func unpackAddr(b [16]byte, flags, valid, is4 uint8) netip.Addr {
	switch {
	case flags&valid == 0:
		return netip.Addr{}
	case flags&is4 != 0:
		return netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrFrom16(b)
}

// member is the state.Member k stands for.
func (k memberKey) member() state.Member {
	return state.Member{Set: setNames[k.set], Entry: ipset.Entry{
		IP:       unpackAddr(k.ip, k.flags, ipValid, ipIs4),
		Protocol: protoNames[k.proto],
		Port:     k.port,
		IP2:      unpackAddr(k.ip2, k.flags, ip2Valid, ip2Is4),
	}}
}

package state

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/internal/packaddr"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
)

// MemberKey is a Member packed into 40 bytes instead of 120 (no strings,
// addresses as bytes, the set and protocol as small numbers): how the
// kernel cache's MemberSet and the desired Index keep the members they
// hold by the hundred thousand. A member it cannot hold (a net, a zone, a
// set not registered, a protocol not ours) stays a Member beside it (see
// PackMember).
type MemberKey struct {
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
	// setNames and setIndex are written by RegisterSets at init time only,
	// then read without locks.
	setNames []string
	setIndex = map[string]uint16{}
)

// RegisterSets makes the sets named packable (see MemberKey). Call it from
// an init function only: the table is read without locks afterwards.
func RegisterSets(names ...string) {
	for _, n := range names {
		if _, ok := setIndex[n]; !ok && len(setNames) < wideSet {
			setIndex[n] = uint16(len(setNames))
			setNames = append(setNames, n)
		}
	}
}

// PackMember returns m as a MemberKey; false when m does not fit one.
func PackMember(m Member) (MemberKey, bool) {
	e := m.Entry
	set, ok := setIndex[m.Set]
	if !ok || e.Net.IsValid() || e.IP.Zone() != "" || e.IP2.Zone() != "" || e.Net != (netip.Prefix{}) {
		return MemberKey{}, false
	}
	k := MemberKey{port: e.Port, set: set, proto: 255}
	for i, p := range protoNames {
		if p == e.Protocol {
			k.proto = uint8(i)
		}
	}
	if k.proto == 255 {
		return MemberKey{}, false
	}
	k.ip, k.flags = packaddr.Pack(e.IP, ipValid, ipIs4)
	var f uint8
	k.ip2, f = packaddr.Pack(e.IP2, ip2Valid, ip2Is4)
	k.flags |= f
	return k, true
}

// Member is the Member k stands for.
func (k MemberKey) Member() Member {
	return Member{Set: setNames[k.set], Entry: ipset.Entry{
		IP:       packaddr.Unpack(k.ip, k.flags, ipValid, ipIs4),
		Protocol: protoNames[k.proto],
		Port:     k.port,
		IP2:      packaddr.Unpack(k.ip2, k.flags, ip2Valid, ip2Is4),
	}}
}

// SetName is the name of k's set, without unpacking the rest.
func (k MemberKey) SetName() string { return setNames[k.set] }

package ipset

import (
	"iter"
	"maps"
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/internal/packaddr"
)

// fakeEntries is a Fake set's members: packed (54 bytes, no pointers,
// against Entry's 104 with three) for the addresses, ports and protocols the
// kernel takes, with an overflow for anything else (a zone, an unusual
// protocol spelling), so that the 100k benchmarks' fake holding hundreds of
// thousands of members costs about what they weigh. Protocols are interned
// per set, so every entry comes back spelt as it was added.
type fakeEntries struct {
	packed map[packedEntry]struct{}
	wide   map[Entry]struct{}
	protos []string
}

type packedEntry struct {
	ip, ip2, net [16]byte
	port         uint16
	proto        uint8 // index in protos
	bits         uint8 // the net's
	flags        uint8
}

const (
	peIP uint8 = 1 << iota
	peIP4
	peIP2
	peIP24
	peNet
	peNet4
)

func newFakeEntries() fakeEntries {
	return fakeEntries{packed: map[packedEntry]struct{}{}, wide: map[Entry]struct{}{}}
}

// pack returns e packed; false when it does not pack (intern: add the
// protocol to the table when missing, which a lookup must not).
func (s *fakeEntries) pack(e Entry, intern bool) (packedEntry, bool) {
	if e.IP.Zone() != "" || e.IP2.Zone() != "" || e.Net.Addr().Zone() != "" {
		return packedEntry{}, false
	}
	p := packedEntry{port: e.Port}
	i := 0
	for i < len(s.protos) && s.protos[i] != e.Protocol {
		i++
	}
	if i == len(s.protos) {
		if !intern || i == 255 {
			return packedEntry{}, false
		}
		s.protos = append(s.protos, e.Protocol)
	}
	p.proto = uint8(i)
	var f uint8
	p.ip, f = packaddr.Pack(e.IP, peIP, peIP4)
	p.flags |= f
	p.ip2, f = packaddr.Pack(e.IP2, peIP2, peIP24)
	p.flags |= f
	if e.Net.IsValid() {
		p.net, f = packaddr.Pack(e.Net.Addr(), peNet, peNet4)
		p.flags |= f
		p.bits = uint8(e.Net.Bits())
	} else if e.Net != (netip.Prefix{}) {
		return packedEntry{}, false // an invalid prefix that is not the zero one
	}
	return p, true
}

func (s *fakeEntries) unpack(p packedEntry) Entry {
	e := Entry{
		IP:       packaddr.Unpack(p.ip, p.flags, peIP, peIP4),
		Protocol: s.protos[p.proto],
		Port:     p.port,
		IP2:      packaddr.Unpack(p.ip2, p.flags, peIP2, peIP24),
	}
	if p.flags&peNet != 0 {
		e.Net = netip.PrefixFrom(packaddr.Unpack(p.net, p.flags, peNet, peNet4), int(p.bits))
	}
	return e
}

func (s *fakeEntries) has(e Entry) bool {
	if p, ok := s.pack(e, false); ok {
		_, in := s.packed[p]
		return in
	}
	_, in := s.wide[e]
	return in
}

func (s *fakeEntries) add(e Entry) {
	if p, ok := s.pack(e, true); ok {
		s.packed[p] = struct{}{}
		return
	}
	s.wide[e] = struct{}{}
}

func (s *fakeEntries) delete(e Entry) {
	if p, ok := s.pack(e, false); ok {
		delete(s.packed, p)
		return
	}
	delete(s.wide, e)
}

func (s *fakeEntries) len() int { return len(s.packed) + len(s.wide) }

func (s *fakeEntries) all() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for p := range s.packed {
			if !yield(s.unpack(p)) {
				return
			}
		}
		for e := range maps.Keys(s.wide) {
			if !yield(e) {
				return
			}
		}
	}
}

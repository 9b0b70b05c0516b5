package state

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// RealServers is the real servers of one virtual server: a slice sorted by
// ipvs.RealServerKey.Compare, of packed, pointer-free elements (24 bytes
// against ipvs.RealServer's 48, and no per-Service hash table: a map of
// ten real servers cost about 250 bytes each). Lookups are binary searches;
// Set appends without moving anything when keys come in order (as desired
// builds them and as a sorted plan applies them); NewRealServers builds a
// list of any size in O(n log n). The zero value is an empty list.
//
// The value holds a slice: copies of it share elements. A State's Service
// copies a borrowed list before changing it (Service.own); elsewhere change
// only a list you built.
//
// An element keeps what the kernel keeps: the address without a zone (real
// servers have none: desired refuses zoned endpoint addresses, netlink
// carries none) and the weight as an int32 (the kernel's int).
type RealServers struct {
	s []packedRS
}

// packedRS is one real server: addr is the address's 16 bytes (As16) as
// two big-endian halves, so comparisons are two integer compares.
type packedRS struct {
	hi, lo uint64
	port   uint16
	rank   uint8 // family order of RealServerKey.Compare: rank4, rankNone, rank6
	fwd    ipvs.Forwarding
	weight int32
}

const (
	rank4 uint8 = iota
	rankNone
	rank6
)

func packKey(k ipvs.RealServerKey) packedRS {
	var p packedRS
	switch {
	case !k.Address.IsValid():
		p.rank = rankNone
	case k.Address.Is4():
		p.rank = rank4
	default:
		p.rank = rank6
	}
	if p.rank != rankNone {
		b := k.Address.As16()
		p.hi, p.lo = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	}
	p.port = k.Port
	return p
}

func pack(rs ipvs.RealServer) packedRS {
	p := packKey(rs.RealServerKey)
	p.fwd, p.weight = rs.Forwarding, int32(rs.Weight)
	return p
}

func (p packedRS) key() ipvs.RealServerKey {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], p.hi)
	binary.BigEndian.PutUint64(b[8:], p.lo)
	var a netip.Addr
	switch p.rank {
	case rank4:
		a = netip.AddrFrom16(b).Unmap()
	case rank6:
		a = netip.AddrFrom16(b)
	}
	return ipvs.RealServerKey{Address: a, Port: p.port}
}

func (p packedRS) realServer() ipvs.RealServer {
	return ipvs.RealServer{RealServerKey: p.key(), Weight: int(p.weight), Forwarding: p.fwd}
}

// compareKeys orders as ipvs.RealServerKey.Compare orders the keys.
func compareKeys(a, b packedRS) int {
	switch {
	case a.rank != b.rank:
		return cmp.Compare(a.rank, b.rank)
	case a.hi != b.hi:
		return cmp.Compare(a.hi, b.hi)
	case a.lo != b.lo:
		return cmp.Compare(a.lo, b.lo)
	}
	return cmp.Compare(a.port, b.port)
}

// NewRealServers returns the list of rss (when two share a key, the later
// wins, as repeated Sets would have it).
func NewRealServers(rss []ipvs.RealServer) RealServers {
	if len(rss) == 0 {
		return RealServers{}
	}
	s := make([]packedRS, len(rss))
	for i, rs := range rss {
		s[i] = pack(rs)
	}
	if !slices.IsSortedFunc(s, compareKeys) {
		slices.SortFunc(s, compareKeys)
		if hasRepeat(s) {
			// Which of the repeats wins depends on their order in rss.
			for i, rs := range rss {
				s[i] = pack(rs)
			}
			slices.SortStableFunc(s, compareKeys)
		}
	}
	// Keep the last of each run of equal keys.
	out := s[:0]
	for i, p := range s {
		if i+1 < len(s) && compareKeys(p, s[i+1]) == 0 {
			continue
		}
		out = append(out, p)
	}
	return RealServers{s: out}
}

func hasRepeat(s []packedRS) bool {
	for i := 1; i < len(s); i++ {
		if compareKeys(s[i-1], s[i]) == 0 {
			return true
		}
	}
	return false
}

// Len is the number of real servers.
func (l RealServers) Len() int { return len(l.s) }

func (l RealServers) find(k packedRS) (int, bool) {
	return slices.BinarySearchFunc(l.s, k, compareKeys)
}

// Get returns the real server with key k.
func (l RealServers) Get(k ipvs.RealServerKey) (ipvs.RealServer, bool) {
	i, ok := l.find(packKey(k))
	if !ok {
		return ipvs.RealServer{}, false
	}
	return l.s[i].realServer(), true
}

// Has tells whether the list holds a real server with key k.
func (l RealServers) Has(k ipvs.RealServerKey) bool {
	_, ok := l.find(packKey(k))
	return ok
}

// All yields the real servers in key order.
func (l RealServers) All() iter.Seq[ipvs.RealServer] {
	return func(yield func(ipvs.RealServer) bool) {
		for _, p := range l.s {
			if !yield(p.realServer()) {
				return
			}
		}
	}
}

// Slice returns the real servers in key order, as a new slice.
func (l RealServers) Slice() []ipvs.RealServer {
	out := make([]ipvs.RealServer, len(l.s))
	for i, p := range l.s {
		out[i] = p.realServer()
	}
	return out
}

// Set adds rs, or replaces the real server with its key.
func (l *RealServers) Set(rs ipvs.RealServer) {
	p := pack(rs)
	if n := len(l.s); n == 0 || compareKeys(l.s[n-1], p) < 0 {
		l.s = append(l.s, p)
		return
	}
	i, ok := l.find(p)
	if ok {
		l.s[i] = p
		return
	}
	l.s = slices.Insert(l.s, i, p)
}

// Delete removes the real server with key k and reports whether there was
// one. It moves the shorter side of the list: deleting from either end (a
// sorted plan deletes from the front) costs O(1), not O(n).
func (l *RealServers) Delete(k ipvs.RealServerKey) bool {
	i, ok := l.find(packKey(k))
	switch {
	case !ok:
	case i < len(l.s)/2:
		copy(l.s[1:i+1], l.s[:i])
		l.s = l.s[1:]
	default:
		l.s = slices.Delete(l.s, i, i+1)
	}
	return ok
}

// extend lengthens l by one when the element past its end, within its
// capacity, is rs and rs sorts last: a view of a longer list (ShareFirst)
// then holds rs, and nothing is written (the list is someone else's).
func (l *RealServers) extend(rs ipvs.RealServer) bool {
	n := len(l.s)
	if n == cap(l.s) {
		return false
	}
	p := pack(rs)
	if l.s[:n+1][n] != p || n > 0 && compareKeys(l.s[n-1], p) >= 0 {
		return false
	}
	l.s = l.s[:n+1]
	return true
}

// Grow makes room for n more real servers without another allocation.
func (l *RealServers) Grow(n int) { l.s = slices.Grow(l.s, n) }

// Clone returns a copy that shares nothing with l, with no spare room.
func (l RealServers) Clone() RealServers {
	if len(l.s) == 0 {
		return RealServers{}
	}
	return RealServers{s: slices.Clone(l.s)}
}

// Equal tells whether l and o hold the same real servers.
func (l RealServers) Equal(o RealServers) bool { return slices.Equal(l.s, o.s) }

// EqualSlice tells whether l holds exactly the real servers rss, in any
// order (a kernel read against a cached list): O(n) when rss is in key
// order, O(n log n) otherwise.
func (l RealServers) EqualSlice(rss []ipvs.RealServer) bool {
	if len(rss) != len(l.s) {
		return false
	}
	i := 0
	for i < len(rss) && pack(rss[i]) == l.s[i] {
		i++
	}
	if i == len(rss) {
		return true
	}
	rest := make([]packedRS, len(rss)-i)
	for j, rs := range rss[i:] {
		rest[j] = pack(rs)
	}
	slices.SortFunc(rest, compareKeys)
	// l has no repeated key, so an equal rest has none either.
	return slices.Equal(rest, l.s[i:])
}

// Shares tells whether l and o are one list (the same elements in memory),
// as Share and the desired index's fragments make them.
func (l RealServers) Shares(o RealServers) bool {
	return len(l.s) > 0 && len(l.s) == len(o.s) && &l.s[0] == &o.s[0]
}

// String lists the real servers: "[10.244.1.5:8080 -m -w 1, ...]".
func (l RealServers) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, p := range l.s {
		if i > 0 {
			b.WriteString(", ")
		}
		rs := p.realServer()
		fmt.Fprintf(&b, "%s w%d f%d", netip.AddrPortFrom(rs.Address, rs.Port), rs.Weight, rs.Forwarding)
	}
	b.WriteByte(']')
	return b.String()
}

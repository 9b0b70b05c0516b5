package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"iter"
	"slices"
	"strings"
)

// MemberList is a Plan's list of members to add, in order, kept as
// MemberKeys (40 bytes against a Member's 120; a cold sync at 100k Services
// adds some 260,000). A member that does not pack stays whole in wide and
// its place in the list is a key that refers to it (set wideSet). The zero
// value is empty.
type MemberList struct {
	keys []MemberKey
	wide []Member
}

// wideSet is the set number of a key that stands for wide[index], the
// index in the key's first 8 address bytes. RegisterSets stops short of it.
const wideSet = 1<<16 - 1

// MemberListOf returns the list of ms, in their order.
func MemberListOf(ms ...Member) MemberList {
	var l MemberList
	for _, m := range ms {
		l.Append(m)
	}
	return l
}

// Append adds m at the end.
func (l *MemberList) Append(m Member) {
	if k, ok := PackMember(m); ok {
		l.keys = append(l.keys, k)
		return
	}
	k := MemberKey{set: wideSet}
	binary.LittleEndian.PutUint64(k.ip[:8], uint64(len(l.wide)))
	l.wide = append(l.wide, m)
	l.keys = append(l.keys, k)
}

// grow makes room for n more members.
func (l *MemberList) grow(n int) { l.keys = slices.Grow(l.keys, n) }

// Len is the number of members.
func (l MemberList) Len() int { return len(l.keys) }

func (l MemberList) member(k MemberKey) Member {
	if k.set == wideSet {
		return l.wide[binary.LittleEndian.Uint64(k.ip[:8])]
	}
	return k.Member()
}

// At returns member i (0 <= i < Len).
func (l MemberList) At(i int) Member { return l.member(l.keys[i]) }

// All yields the members in order.
func (l MemberList) All() iter.Seq[Member] {
	return func(yield func(Member) bool) {
		for _, k := range l.keys {
			if !yield(l.member(k)) {
				return
			}
		}
	}
}

// Slice returns the members as a new slice (nil when none).
func (l MemberList) Slice() []Member {
	if len(l.keys) == 0 {
		return nil
	}
	return slices.AppendSeq(make([]Member, 0, len(l.keys)), l.All())
}

// sort orders the list as compareMember orders Members (set name, then
// ipset.Entry.Compare), comparing packed keys without unpacking them.
func (l *MemberList) sort() {
	slices.SortFunc(l.keys, func(a, b MemberKey) int {
		if a.set == wideSet || b.set == wideSet {
			return compareMember(l.member(a), l.member(b))
		}
		return compareMemberKeys(a, b)
	})
}

// compareMemberKeys is compareMember for two packed members: set name, then the
// entry (address by family then bytes, protocol, port, second address; a
// packed member has no zone and no net).
func compareMemberKeys(a, b MemberKey) int {
	if a.set != b.set {
		return strings.Compare(setNames[a.set], setNames[b.set])
	}
	if c := compareAddrKeys(a.ip, b.ip, a.flags, b.flags, ipValid, ipIs4); c != 0 {
		return c
	}
	if a.proto != b.proto {
		return strings.Compare(protoNames[a.proto], protoNames[b.proto])
	}
	if c := cmp.Compare(a.port, b.port); c != 0 {
		return c
	}
	return compareAddrKeys(a.ip2, b.ip2, a.flags, b.flags, ip2Valid, ip2Is4)
}

// compareAddrKeys is netip.Addr.Compare on packed addresses.
func compareAddrKeys(a, b [16]byte, fa, fb, valid, is4 uint8) int {
	if c := cmp.Compare(bitLen(fa, valid, is4), bitLen(fb, valid, is4)); c != 0 {
		return c
	}
	return bytes.Compare(a[:], b[:])
}

func bitLen(flags, valid, is4 uint8) int {
	switch {
	case flags&valid == 0:
		return 0
	case flags&is4 != 0:
		return 32
	}
	return 128
}

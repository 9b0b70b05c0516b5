package state

import (
	"iter"
	"maps"
)

// MemberSet is a set of ipset members, kept packed (MemberKey, 40 bytes a
// member instead of 120) with an overflow for the members that do not pack.
// Like a map it is a reference: copies share the content. The zero
// MemberSet is empty; it reads as empty and makes its maps on the first Add
// (so use the set itself, or a State made by New, not a copy of a zero one).
type MemberSet struct {
	packed map[MemberKey]struct{}
	wide   map[Member]struct{}
}

// NewMemberSet returns an empty set with room for n members.
func NewMemberSet(n int) MemberSet {
	return MemberSet{packed: make(map[MemberKey]struct{}, n), wide: map[Member]struct{}{}}
}

func (s *MemberSet) init() {
	if s.packed == nil {
		s.packed = map[MemberKey]struct{}{}
	}
	if s.wide == nil {
		s.wide = map[Member]struct{}{}
	}
}

// Add puts m in the set.
func (s *MemberSet) Add(m Member) {
	s.init()
	if k, ok := PackMember(m); ok {
		s.packed[k] = struct{}{}
		return
	}
	s.wide[m] = struct{}{}
}

// AddKey puts the member k stands for in the set.
func (s *MemberSet) AddKey(k MemberKey) {
	s.init()
	s.packed[k] = struct{}{}
}

// Delete removes m from the set (missing is fine).
func (s MemberSet) Delete(m Member) {
	if k, ok := PackMember(m); ok {
		delete(s.packed, k)
		return
	}
	delete(s.wide, m)
}

// Has tells whether m is in the set.
func (s MemberSet) Has(m Member) bool {
	if k, ok := PackMember(m); ok {
		_, in := s.packed[k]
		return in
	}
	_, in := s.wide[m]
	return in
}

// Len is the number of members.
func (s MemberSet) Len() int { return len(s.packed) + len(s.wide) }

// All yields every member once, in no order. The set may be changed
// meanwhile (as a map may while ranged over).
func (s MemberSet) All() iter.Seq[Member] {
	return func(yield func(Member) bool) {
		for k := range s.packed {
			if !yield(k.Member()) {
				return
			}
		}
		for m := range s.wide {
			if !yield(m) {
				return
			}
		}
	}
}

// InSet yields the members of the set named name.
func (s MemberSet) InSet(name string) iter.Seq[Member] {
	return func(yield func(Member) bool) {
		if i, ok := setIndex[name]; ok {
			for k := range s.packed {
				if k.set == i && !yield(k.Member()) {
					return
				}
			}
		}
		for m := range s.wide {
			if m.Set == name && !yield(m) {
				return
			}
		}
	}
}

// Clone returns a copy that shares nothing with s.
func (s MemberSet) Clone() MemberSet {
	return MemberSet{packed: maps.Clone(s.packed), wide: maps.Clone(s.wide)}
}

// AddSet puts every member of o in s.
func (s *MemberSet) AddSet(o MemberSet) {
	s.init()
	maps.Copy(s.packed, o.packed)
	maps.Copy(s.wide, o.wide)
}

// Reserve makes room for more members to be added, when that is more
// than s holds: one allocation instead of a growing series.
func (s *MemberSet) Reserve(more int) {
	s.init()
	s.packed = reserve(s.packed, more)
}

// Packed yields the members held packed, as keys (no unpacking).
func (s MemberSet) Packed() iter.Seq[MemberKey] { return maps.Keys(s.packed) }

// Wide yields the members that do not pack.
func (s MemberSet) Wide() iter.Seq[Member] { return maps.Keys(s.wide) }

// CountBySet returns how many members each set holds (no unpacking).
func (s MemberSet) CountBySet() map[string]int {
	byIndex := map[uint16]int{}
	for k := range s.packed {
		byIndex[k.set]++
	}
	out := make(map[string]int, len(byIndex))
	for i, n := range byIndex {
		out[setNames[i]] += n
	}
	for m := range s.wide {
		out[m.Set]++
	}
	return out
}

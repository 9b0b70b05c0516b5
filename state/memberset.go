package state

import (
	"iter"
	"maps"
)

// MemberSet is a set of ipset members, kept packed (MemberKey, 40 bytes a
// member instead of 120) with an overflow for the members that do not
// pack. The packed members are in one map, or (NewMemberSetBySet, the
// kernel cache's) in one map per set: reading one set (the audit's set
// steps, setsize.go) then costs that set's members, not every member of
// every set; a Service's fragment, built by the hundred thousand, keeps
// the single map, one allocation instead of one per set. Like a map it is
// a reference: copies share the content. The zero MemberSet is empty; it
// reads as empty and makes its maps on the first Add (so use the set
// itself, or a State made by New, not a copy of a zero one).
type MemberSet struct {
	packed map[MemberKey]struct{} // nil when bySet is used
	// bySet[i] holds the members of set setNames[i], nil until its first
	// member; it has a slot for every set registered when the MemberSet
	// was made, so copies share the slots.
	bySet []map[MemberKey]struct{}
	wide  map[Member]struct{}
}

// NewMemberSet returns an empty set with room for n members, in one map.
func NewMemberSet(n int) MemberSet {
	return MemberSet{packed: make(map[MemberKey]struct{}, n), wide: map[Member]struct{}{}}
}

// NewMemberSetBySet returns an empty set that keeps each set's members
// apart.
func NewMemberSetBySet() MemberSet {
	return MemberSet{bySet: make([]map[MemberKey]struct{}, len(setNames)), wide: map[Member]struct{}{}}
}

func (s *MemberSet) init() {
	if s.packed == nil && s.bySet == nil {
		s.packed = map[MemberKey]struct{}{}
	}
	if s.wide == nil {
		s.wide = map[Member]struct{}{}
	}
}

// mapOf returns the map that holds k (nil when it is yet to be made: only
// in a set kept by set); ok is false when k is held wide (its set was
// registered after s was made).
func (s MemberSet) mapOf(k MemberKey) (m map[MemberKey]struct{}, ok bool) {
	if s.bySet == nil {
		return s.packed, true
	}
	if int(k.set) >= len(s.bySet) {
		return nil, false
	}
	return s.bySet[k.set], true
}

// Add puts m in the set.
func (s *MemberSet) Add(m Member) {
	if k, ok := PackMember(m); ok {
		s.AddKey(k)
		return
	}
	s.init()
	s.wide[m] = struct{}{}
}

// AddKey puts the member k stands for in the set.
func (s *MemberSet) AddKey(k MemberKey) {
	s.init()
	m, ok := s.mapOf(k)
	switch {
	case !ok:
		s.wide[k.Member()] = struct{}{}
		return
	case m == nil:
		m = map[MemberKey]struct{}{}
		s.bySet[k.set] = m
	}
	m[k] = struct{}{}
}

// Delete removes m from the set (missing is fine).
func (s MemberSet) Delete(m Member) {
	if k, ok := PackMember(m); ok {
		if pm, ok := s.mapOf(k); ok {
			delete(pm, k)
			return
		}
	}
	delete(s.wide, m)
}

// Has tells whether m is in the set.
func (s MemberSet) Has(m Member) bool {
	if k, ok := PackMember(m); ok {
		if pm, ok := s.mapOf(k); ok {
			_, in := pm[k]
			return in
		}
	}
	_, in := s.wide[m]
	return in
}

// Len is the number of members.
func (s MemberSet) Len() int {
	n := len(s.packed) + len(s.wide)
	for _, m := range s.bySet {
		n += len(m)
	}
	return n
}

// All yields every member once, in no order. The set may be changed
// meanwhile (as a map may while ranged over).
func (s MemberSet) All() iter.Seq[Member] {
	return func(yield func(Member) bool) {
		for k := range s.Packed() {
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
			if s.bySet != nil {
				if int(i) < len(s.bySet) {
					for k := range s.bySet[i] {
						if !yield(k.Member()) {
							return
						}
					}
				}
			} else {
				for k := range s.packed {
					if k.set == i && !yield(k.Member()) {
						return
					}
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
	out := MemberSet{packed: maps.Clone(s.packed), wide: maps.Clone(s.wide)}
	if s.bySet != nil {
		out.bySet = make([]map[MemberKey]struct{}, len(s.bySet))
		for i, m := range s.bySet {
			out.bySet[i] = maps.Clone(m)
		}
	}
	return out
}

// AddSet puts every member of o in s.
func (s *MemberSet) AddSet(o MemberSet) {
	s.init()
	if s.bySet == nil && o.bySet == nil {
		maps.Copy(s.packed, o.packed)
	} else {
		for k := range o.Packed() {
			s.AddKey(k)
		}
	}
	maps.Copy(s.wide, o.wide)
}

// Reserve makes room for the members keys stands for to be added, when
// they are more than s holds (a cold sync): one allocation per map
// instead of a growing series.
func (s *MemberSet) Reserve(keys []MemberKey) {
	s.init()
	if s.bySet == nil {
		s.packed = reserve(s.packed, len(keys))
		return
	}
	more := make([]int, len(s.bySet))
	for _, k := range keys {
		if int(k.set) < len(more) {
			more[k.set]++
		}
	}
	for i, n := range more {
		if n > 0 {
			s.bySet[i] = reserve(s.bySet[i], n)
		}
	}
}

// Packed yields the members held packed, as keys (no unpacking).
func (s MemberSet) Packed() iter.Seq[MemberKey] {
	if s.bySet == nil {
		return maps.Keys(s.packed)
	}
	return func(yield func(MemberKey) bool) {
		for _, m := range s.bySet {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}
	}
}

// Wide yields the members that do not pack.
func (s MemberSet) Wide() iter.Seq[Member] { return maps.Keys(s.wide) }

// CountBySet returns how many members each set holds (no unpacking).
func (s MemberSet) CountBySet() map[string]int {
	out := map[string]int{}
	for k := range s.packed {
		out[setNames[k.set]]++
	}
	for i, m := range s.bySet {
		if len(m) > 0 {
			out[setNames[i]] += len(m)
		}
	}
	for m := range s.wide {
		out[m.Set]++
	}
	return out
}

package state

import (
	"iter"
	"slices"
	"sort"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// RealServerAdds is the real servers a Plan adds, by virtual server: for
// each one a RealServers list. A virtual server the plan creates adds all of
// its desired real servers, and its list is then the desired one itself,
// shared read-only (AddList), not a million 88-byte RealServerOps at 100k
// Services. It yields the same operations, in the same order, as the sorted
// []RealServerOp it replaces. The zero value is empty.
type RealServerAdds struct {
	groups []rsGroup
}

type rsGroup struct {
	service ipvs.Key
	rss     RealServers
	end     int  // the ops in this group and every earlier one
	own     bool // rss is this value's (else shared: copy before a change)
}

// RealServerAddsOf returns the adds ops, in any order (sorted as a plan
// sorts them).
func RealServerAddsOf(ops ...RealServerOp) RealServerAdds {
	var a RealServerAdds
	for _, op := range ops {
		a.Append(op)
	}
	a.sort()
	return a
}

// Len is the number of real servers added.
func (a RealServerAdds) Len() int {
	if len(a.groups) == 0 {
		return 0
	}
	return a.groups[len(a.groups)-1].end
}

// Append adds op after the others (a Plan sorts them before it is used).
func (a *RealServerAdds) Append(op RealServerOp) {
	if n := len(a.groups); n > 0 && a.groups[n-1].service == op.Service {
		g := &a.groups[n-1]
		if !g.own {
			g.rss, g.own = g.rss.Clone(), true
		}
		before := g.rss.Len()
		g.rss.Set(op.RealServer)
		g.end += g.rss.Len() - before
		return
	}
	var l RealServers
	l.Set(op.RealServer)
	a.groups = append(a.groups, rsGroup{service: op.Service, rss: l, end: a.Len() + 1, own: true})
}

// AddList adds every real server of l under virtual server k, sharing l
// (read-only: neither side may change it in place).
func (a *RealServerAdds) AddList(k ipvs.Key, l RealServers) {
	if l.Len() == 0 {
		return
	}
	if n := len(a.groups); n > 0 && a.groups[n-1].service == k {
		for rs := range l.All() {
			a.Append(RealServerOp{k, rs})
		}
		return
	}
	a.groups = append(a.groups, rsGroup{service: k, rss: l, end: a.Len() + l.Len()})
}

// grow makes room for n more virtual servers.
func (a *RealServerAdds) grow(n int) { a.groups = slices.Grow(a.groups, n) }

// sort orders the adds by virtual server (then real server, as each list
// is), merging the lists of a virtual server added more than once.
func (a *RealServerAdds) sort() {
	if slices.IsSortedFunc(a.groups, compareGroups) && !a.repeats() {
		return
	}
	old := a.groups
	slices.SortStableFunc(old, compareGroups)
	a.groups = make([]rsGroup, 0, len(old))
	for _, g := range old {
		if n := len(a.groups); n > 0 && a.groups[n-1].service == g.service {
			for rs := range g.rss.All() {
				a.Append(RealServerOp{g.service, rs})
			}
			continue
		}
		g.end = a.Len() + g.rss.Len()
		a.groups = append(a.groups, g)
	}
}

func compareGroups(a, b rsGroup) int { return a.service.Compare(b.service) }

func (a RealServerAdds) repeats() bool {
	for i := 1; i < len(a.groups); i++ {
		if a.groups[i].service == a.groups[i-1].service {
			return true
		}
	}
	return false
}

// All yields the adds in order.
func (a RealServerAdds) All() iter.Seq[RealServerOp] {
	return func(yield func(RealServerOp) bool) {
		for _, g := range a.groups {
			for rs := range g.rss.All() {
				if !yield(RealServerOp{g.service, rs}) {
					return
				}
			}
		}
	}
}

// At returns add i (0 <= i < Len).
func (a RealServerAdds) At(i int) RealServerOp {
	j := sort.Search(len(a.groups), func(j int) bool { return a.groups[j].end > i })
	g := a.groups[j]
	start := g.end - g.rss.Len()
	return RealServerOp{g.service, g.rss.s[i-start].realServer()}
}

// Slice returns the adds as a new slice, in order.
func (a RealServerAdds) Slice() []RealServerOp {
	if a.Len() == 0 {
		return nil
	}
	return slices.AppendSeq(make([]RealServerOp, 0, a.Len()), a.All())
}

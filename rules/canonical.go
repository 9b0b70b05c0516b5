package rules

import (
	"cmp"
	"slices"
	"strings"
)

// canonical returns rs in the order For produces and Dump returns: tables nat,
// filter, then others by name; chains by name; jumps by built-in chain and
// rule; rules within a chain keep their order. Empty tables are dropped and
// empty rule lists are nil, so reflect.DeepEqual compares contents.
func canonical(rs Ruleset) Ruleset {
	out := Ruleset{Family: rs.Family}
	for _, t := range rs.Tables {
		if len(t.Chains) == 0 && len(t.Jumps) == 0 {
			continue
		}
		c := Table{Name: t.Name}
		for _, ch := range t.Chains {
			c.Chains = append(c.Chains, Chain{Name: ch.Name, Rules: nilIfEmpty(slices.Clone(ch.Rules))})
		}
		slices.SortStableFunc(c.Chains, func(a, b Chain) int { return strings.Compare(a.Name, b.Name) })
		c.Jumps, c.Buried = sortJumps(t.Jumps), sortJumps(t.Buried)
		out.Tables = append(out.Tables, c)
	}
	slices.SortStableFunc(out.Tables, func(a, b Table) int {
		return cmp.Or(cmp.Compare(tableRank(a.Name), tableRank(b.Name)), strings.Compare(a.Name, b.Name))
	})
	return out
}

// sortJumps returns a sorted copy of jumps (nil when empty).
func sortJumps(jumps []Jump) []Jump {
	if len(jumps) == 0 {
		return nil
	}
	out := slices.Clone(jumps)
	slices.SortStableFunc(out, func(a, b Jump) int {
		return cmp.Or(strings.Compare(a.Chain, b.Chain), strings.Compare(a.Rule, b.Rule))
	})
	return out
}

func tableRank(name string) int {
	switch name {
	case "nat":
		return 0
	case "filter":
		return 1
	}
	return 2
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

package rules

import (
	"fmt"
	"slices"
	"strings"
)

// builtins are the built-in chains of each iptables table.
var builtins = map[string][]string{
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"raw":      {"PREROUTING", "OUTPUT"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

// check refuses what iptables-restore would refuse, and what would break the
// ownership rules Apply relies on: chains must carry ChainPrefix (Apply
// flushes every chain it declares), a rule may only target one of our chains
// declared in the same table, and a jump must enter one of our declared
// chains from a built-in chain of that table (else Dump could not find it and
// Apply would add it again on every sync). With setExists, every --match-set
// must name an existing set.
func check(rs Ruleset, setExists func(string) bool) error {
	if rs.Family != IPv4 && rs.Family != IPv6 {
		return fmt.Errorf("rules: family %q is neither %q nor %q", rs.Family, IPv4, IPv6)
	}
	seenTables := map[string]bool{}
	for _, t := range rs.Tables {
		if builtins[t.Name] == nil {
			return fmt.Errorf("rules: unknown table %q", t.Name)
		}
		if seenTables[t.Name] {
			return fmt.Errorf("rules: table %s given twice", t.Name)
		}
		seenTables[t.Name] = true
		declared := map[string]bool{}
		for _, c := range t.Chains {
			if !strings.HasPrefix(c.Name, ChainPrefix) || len(c.Name) > 28 ||
				strings.ContainsAny(c.Name, " \t\n\"'") {
				return fmt.Errorf("rules: %s: chain name %q must start with %s, be at most 28 bytes and one word", t.Name, c.Name, ChainPrefix)
			}
			if declared[c.Name] {
				return fmt.Errorf("rules: %s: chain %s declared twice", t.Name, c.Name)
			}
			declared[c.Name] = true
		}
		checkRule := func(where, spec string) error {
			if strings.ContainsAny(spec, "\n\r") || strings.TrimSpace(spec) == "" {
				return fmt.Errorf("rules: %s %s: empty or multi-line rule %q", t.Name, where, spec)
			}
			if _, err := fields(spec); err != nil {
				return fmt.Errorf("rules: %s %s: %w", t.Name, where, err)
			}
			if tg := target(spec); strings.HasPrefix(tg, ChainPrefix) && !declared[tg] {
				return fmt.Errorf("rules: %s %s: %q jumps to chain %s, not declared in table %s", t.Name, where, spec, tg, t.Name)
			}
			for _, set := range matchSets(spec) {
				if setExists != nil && !setExists(set) {
					return fmt.Errorf("rules: %s %s: %q matches set %s, which does not exist", t.Name, where, spec, set)
				}
			}
			return nil
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if err := checkRule(c.Name, r); err != nil {
					return err
				}
			}
		}
		for _, j := range t.Jumps {
			if !slices.Contains(builtins[t.Name], j.Chain) {
				return fmt.Errorf("rules: %s: jump from %q, not a built-in chain of the table", t.Name, j.Chain)
			}
			if err := checkRule(j.Chain, j.Rule); err != nil {
				return err
			}
			if tg := target(j.Rule); !strings.HasPrefix(tg, ChainPrefix) {
				return fmt.Errorf("rules: %s %s: jump %q does not enter one of our chains", t.Name, j.Chain, j.Rule)
			}
		}
	}
	return nil
}

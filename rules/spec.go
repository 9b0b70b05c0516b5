package rules

import (
	"fmt"
	"strings"
)

// Validate reports whether For can render s: a known family, a mark bit in
// 0-31, valid cluster CIDRs (those of the other family are allowed and
// ignored) and three set names that ipset accepts (1-31 bytes) and that
// iptables-restore reads as one word.
func (s Spec) Validate() error {
	if s.Family != IPv4 && s.Family != IPv6 {
		return fmt.Errorf("rules: family %q is neither %q nor %q", s.Family, IPv4, IPv6)
	}
	if s.MasqueradeBit < 0 || s.MasqueradeBit > 31 {
		return fmt.Errorf("rules: masquerade bit %d is not in 0-31", s.MasqueradeBit)
	}
	for _, p := range s.ClusterCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("rules: invalid cluster CIDR %v", p)
		}
	}
	if i := s.LocalInterface; i != "" {
		name := strings.TrimSuffix(i, "+")
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "+/!\"'\\") || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			return fmt.Errorf("rules: local interface %q is not an interface name (1-15 characters, optionally followed by +)", i)
		}
	}
	names := []struct{ what, name string }{
		{"cluster IP", s.ClusterIPSet}, {"node port", s.NodePortSet}, {"hairpin", s.HairpinSet},
	}
	if s.External.enabled() {
		names = append(names, s.External.names()...)
	}
	for _, n := range names {
		if n.name == "" || len(n.name) > 31 {
			return fmt.Errorf("rules: %s set name %q must be 1-31 bytes", n.what, n.name)
		}
		if strings.IndexFunc(n.name, func(r rune) bool {
			return r <= ' ' || r > '~' || r == '"' || r == '\'' || r == '\\'
		}) >= 0 {
			return fmt.Errorf("rules: %s set name %q has a blank, quote or non-ASCII character", n.what, n.name)
		}
	}
	return nil
}

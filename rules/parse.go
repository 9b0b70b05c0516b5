package rules

import (
	"fmt"
	"slices"
	"strings"
)

// fields splits a rule spec into words as iptables-restore does: blanks
// separate words, double quotes group them, and a backslash escapes the next
// character inside quotes.
func fields(spec string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(spec):
			i++
			b.WriteByte(spec[i])
		case c == '"':
			inQuote, inWord = !inQuote, true
		case !inQuote && (c == ' ' || c == '\t'):
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("rules: unterminated quote in %q", spec)
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}

// target returns the chain or target a rule jumps (-j) or goes (-g) to, or "".
func target(spec string) string {
	f, err := fields(spec)
	if err != nil {
		return ""
	}
	t := ""
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "-j", "--jump", "-g", "--goto":
			t = f[i+1]
		}
	}
	return t
}

// matchSets returns the set names a rule matches with --match-set.
func matchSets(spec string) []string {
	f, _ := fields(spec)
	var out []string
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--match-set" || f[i] == "--set" {
			out = append(out, f[i+1])
		}
	}
	return out
}

// saved is one table of iptables-save output.
type saved struct {
	chains []string // as declared, built-in ones included
	rules  []savedRule
}

type savedRule struct{ chain, spec string }

// parseSave parses iptables-save output into its tables.
func parseSave(text string) (map[string]*saved, error) {
	tables := map[string]*saved{}
	var cur *saved
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		bad := func() error { return fmt.Errorf("rules: iptables-save line %d: unexpected %q", n+1, line) }
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			if cur != nil {
				return nil, bad()
			}
			cur = &saved{}
			tables[line[1:]] = cur
		case cur == nil:
			return nil, bad()
		case line == "COMMIT":
			cur = nil
		case line[0] == ':':
			name, _, _ := strings.Cut(line[1:], " ")
			cur.chains = append(cur.chains, name)
		case strings.HasPrefix(line, "-A "):
			chain, spec, _ := strings.Cut(line[len("-A "):], " ")
			cur.rules = append(cur.rules, savedRule{chain, spec})
		default:
			return nil, bad()
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("rules: iptables-save output ends without COMMIT")
	}
	return tables, nil
}

// ours extracts our chains (declared with ChainPrefix) and the jumps into
// them from the table's built-in chains, as a canonical table named name.
// Rules of other chains are never ours, even when they enter our chains.
func (s *saved) ours(name string) Table {
	t := Table{Name: name}
	idx := map[string]int{}
	for _, c := range s.chains {
		if strings.HasPrefix(c, ChainPrefix) {
			idx[c] = len(t.Chains)
			t.Chains = append(t.Chains, Chain{Name: c})
		}
	}
	foreignAbove := map[string]bool{} // built-in chain -> a rule of someone else's seen
	for _, r := range s.rules {
		if i, ok := idx[r.chain]; ok {
			t.Chains[i].Rules = append(t.Chains[i].Rules, r.spec)
			continue
		}
		if !slices.Contains(builtins[name], r.chain) {
			continue
		}
		if !strings.HasPrefix(target(r.spec), ChainPrefix) {
			foreignAbove[r.chain] = true
			continue
		}
		j := Jump{Chain: r.chain, Rule: r.spec}
		t.Jumps = append(t.Jumps, j)
		if foreignAbove[r.chain] {
			t.Buried = append(t.Buried, j)
		}
	}
	c := canonical(Ruleset{Tables: []Table{t}})
	if len(c.Tables) == 0 {
		return Table{Name: name}
	}
	return c.Tables[0]
}

// foreignRefs returns our chains that rules of other user chains (someone
// else's) enter; Apply must not delete those chains.
func (s *saved) foreignRefs(name string) map[string]bool {
	refs := map[string]bool{}
	for _, r := range s.rules {
		if strings.HasPrefix(r.chain, ChainPrefix) || slices.Contains(builtins[name], r.chain) {
			continue
		}
		if t := target(r.spec); strings.HasPrefix(t, ChainPrefix) {
			refs[t] = true
		}
	}
	return refs
}

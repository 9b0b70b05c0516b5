package rules

import (
	"fmt"
	"slices"
	"strings"
)

// RemoveChains deletes the named user chains of one table and every rule
// elsewhere that jumps into them (e.g. kube-proxy's KUBE-SERVICES and its
// jumps from PREROUTING and OUTPUT), in one iptables-restore --noflush.
// Chains that do not exist are skipped; it returns what it removed, as
// iptables-restore lines. Our own chains are removed with Apply(Ruleset{Family: f}).
func (k *Kernel) RemoveChains(f Family, table string, chains []string, dryRun bool) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur, err := k.save(f, table)
	if err != nil {
		return nil, err
	}
	lines := removeChains(cur, chains)
	if len(lines) == 0 || dryRun {
		return lines, nil
	}
	text := "*" + table + "\n" + strings.Join(lines, "\n") + "\nCOMMIT\n"
	if _, err := k.run(text, k.bin(f, "restore"), "--noflush", "--wait=5"); err != nil {
		return nil, fmt.Errorf("%w%s", err, failedLine(err.Error(), text))
	}
	return lines, nil
}

// removeChains returns the iptables-restore lines (without the table
// header) that delete the chains of s named in chains and the rules of other
// chains that jump into them: first those rules (-D), then a flush of each
// chain (":NAME - [0:0]"), then -X, so chains that jump into each other go too.
func removeChains(s *saved, chains []string) []string {
	present := map[string]bool{}
	for _, c := range s.chains {
		if slices.Contains(chains, c) {
			present[c] = true
		}
	}
	if len(present) == 0 {
		return nil
	}
	var out []string
	for _, r := range s.rules {
		if !present[r.chain] && present[target(r.spec)] {
			out = append(out, "-D "+r.chain+" "+r.spec)
		}
	}
	for _, c := range s.chains {
		if present[c] {
			out = append(out, ":"+c+" - [0:0]")
		}
	}
	for _, c := range s.chains {
		if present[c] {
			out = append(out, "-X "+c)
		}
	}
	return out
}

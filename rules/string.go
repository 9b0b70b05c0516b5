package rules

import "strings"

// String renders rs as the iptables-restore --noflush input Apply feeds for
// our chains, one block per table. The jumps from built-in chains follow as
// comment lines because Apply inserts each only when it is missing or no
// longer first (feeding them verbatim would duplicate them on every sync); a
// "#" line is a comment to iptables-restore, so the text stays valid input.
// Jumps a Dump found buried under someone else's rules are listed last.
// Example:
//
//	# ip6tables-restore --noflush
//	*nat
//	:IPVS-PROXY-SERVICES - [0:0]
//	-A IPVS-PROXY-SERVICES -m set --match-set S dst,dst -j IPVS-PROXY-MARK-MASQ
//	# jumps, inserted first in their chains and kept first:
//	# -I PREROUTING -j IPVS-PROXY-SERVICES
//	COMMIT
func (rs Ruleset) String() string {
	var b strings.Builder
	b.WriteString("# " + restoreCommand(rs.Family) + " --noflush\n")
	for _, t := range rs.Tables {
		b.WriteString("*" + t.Name + "\n")
		writeChains(&b, t)
		if len(t.Jumps) > 0 {
			b.WriteString("# jumps, inserted first in their chains and kept first:\n")
			for _, j := range t.Jumps {
				b.WriteString("# -I " + j.Chain + " " + j.Rule + "\n")
			}
		}
		if len(t.Buried) > 0 {
			b.WriteString("# jumps found after someone else's rules (Apply moves them first):\n")
			for _, j := range t.Buried {
				b.WriteString("# buried: -A " + j.Chain + " " + j.Rule + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// writeChains writes the declarations of t's chains (which create or, with
// --noflush, flush them) and then their rules.
func writeChains(b *strings.Builder, t Table) {
	for _, c := range t.Chains {
		b.WriteString(":" + c.Name + " - [0:0]\n")
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			b.WriteString("-A " + c.Name + " " + r + "\n")
		}
	}
}

// restoreCommand is the restore command of the family, as the reader knows it.
func restoreCommand(f Family) string {
	if f == IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}

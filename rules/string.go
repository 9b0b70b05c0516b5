package rules

import "strings"

// String renders rs as the iptables-restore --noflush input Apply feeds for
// our chains, one block per table. The jumps from built-in chains follow as
// comment lines because Apply appends each only when it is missing (feeding
// them verbatim would duplicate them on every sync); a "#" line is a comment
// to iptables-restore, so the text stays valid input. Example:
//
//	# ip6tables-restore --noflush
//	*nat
//	:IPVS-PROXY-SERVICES - [0:0]
//	-A IPVS-PROXY-SERVICES -m set --match-set S dst,dst -j IPVS-PROXY-MARK-MASQ
//	# jumps, appended once when missing:
//	# -A PREROUTING -j IPVS-PROXY-SERVICES
//	COMMIT
func (rs Ruleset) String() string {
	var b strings.Builder
	b.WriteString("# " + restoreCommand(rs.Family) + " --noflush\n")
	for _, t := range rs.Tables {
		b.WriteString("*" + t.Name + "\n")
		writeChains(&b, t)
		if len(t.Jumps) > 0 {
			b.WriteString("# jumps, appended once when missing:\n")
			for _, j := range t.Jumps {
				b.WriteString("# -A " + j.Chain + " " + j.Rule + "\n")
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

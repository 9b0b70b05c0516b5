// Package cleanup removes what a proxy left in the kernel: exactly what
// ipvs-proxy owns (Ours), or what kube-proxy's IPVS mode leaves behind
// (KubeProxy). Both are pure functions from observed kernel state to a
// printable Plan; Observe reads that state and Execute carries a Plan out.
package cleanup

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Observed is the kernel state a Plan is computed from.
type Observed struct {
	// DummyInterface is the dummy link's name (kube-ipvs0 for both proxies).
	DummyInterface string
	// VirtualServers are every virtual server in the kernel.
	VirtualServers []ipvs.Key
	// Ledger holds the members of our sets: what ipvs-proxy owns.
	Ledger state.MemberSet
	// DummyAddresses are the addresses on the dummy link (none when it is missing).
	DummyAddresses []netip.Addr
	// LocalAddresses are the node's addresses on every link.
	LocalAddresses []netip.Addr
	// Sets are the candidate sets (ours, or kube-proxy's) that exist.
	Sets []string
	// OurRules are our chains and jumps per family (rules.Interface.Dump).
	OurRules []rules.Ruleset
	// ForeignRules are the iptables-restore lines that remove kube-proxy's
	// chains and the jumps into them, per family and table.
	ForeignRules []TableLines
}

// TableLines are iptables-restore lines for one table of one family.
type TableLines struct {
	Family rules.Family
	Table  string
	Lines  []string
}

// Plan is what a cleanup removes, in the order it removes it: virtual
// servers, then addresses, then iptables rules (they reference the sets),
// then the sets (the ledger goes last, so an interrupted cleanup can run again).
type Plan struct {
	VirtualServers []ipvs.Key
	Addresses      []netip.Addr
	// OurRules are the families whose IPVS-PROXY-* chains and jumps go.
	OurRules []rules.Ruleset
	// ForeignChains are kube-proxy's chains and the jumps into them.
	ForeignChains []TableLines
	Sets          []string
	// DummyInterface names the link the addresses are removed from.
	DummyInterface string
}

// Empty tells whether there is nothing to remove.
func (p Plan) Empty() bool {
	return len(p.VirtualServers) == 0 && len(p.Addresses) == 0 && len(p.OurRules) == 0 &&
		len(p.ForeignChains) == 0 && len(p.Sets) == 0
}

// String prints the plan in the tools' own words: ipvsadm -D lines, ip addr
// del lines, iptables-restore lines and ipset destroy lines.
func (p Plan) String() string {
	if p.Empty() {
		return "# nothing to remove\n"
	}
	var b strings.Builder
	if len(p.VirtualServers) > 0 {
		b.WriteString("# IPVS virtual servers (with their real servers)\n")
		for _, k := range p.VirtualServers {
			fmt.Fprintf(&b, "ipvsadm -D %s\n", k)
		}
	}
	if len(p.Addresses) > 0 {
		fmt.Fprintf(&b, "# addresses on %s\n", p.DummyInterface)
		for _, a := range p.Addresses {
			fmt.Fprintf(&b, "ip addr del %s dev %s\n", netip.PrefixFrom(a, a.BitLen()), p.DummyInterface)
		}
	}
	for _, rs := range p.OurRules {
		fmt.Fprintf(&b, "# iptables (%s): our chains and the jumps into them\n", rs.Family)
		for _, t := range rs.Tables {
			for _, j := range t.Jumps {
				fmt.Fprintf(&b, "-t %s -D %s %s\n", t.Name, j.Chain, j.Rule)
			}
			for _, c := range t.Chains {
				fmt.Fprintf(&b, "-t %s -F %s\n-t %s -X %s\n", t.Name, c.Name, t.Name, c.Name)
			}
		}
	}
	for _, tl := range p.ForeignChains {
		fmt.Fprintf(&b, "# iptables-restore --noflush (%s)\n*%s\n%s\nCOMMIT\n", tl.Family, tl.Table, strings.Join(tl.Lines, "\n"))
	}
	if len(p.Sets) > 0 {
		b.WriteString("# ipsets\n")
		for _, s := range p.Sets {
			fmt.Fprintf(&b, "ipset destroy %s\n", s)
		}
	}
	return b.String()
}

// OurSetNames are ipvs-proxy's sets (both families).
func OurSetNames() []string {
	var out []string
	for _, s := range desired.AllSets() {
		out = append(out, s.Name)
	}
	return out
}

// Ours is what ipvs-proxy owns: the virtual servers its ledger records, the
// dummy-link addresses a ClusterIP ledger entry carries, its chains and
// jumps, and its sets. Nothing else, whatever its name.
func Ours(o Observed) Plan {
	own := ledger.Read(o.Ledger)
	p := Plan{DummyInterface: o.DummyInterface}
	for _, k := range o.VirtualServers {
		if own.OwnsService(k) {
			p.VirtualServers = append(p.VirtualServers, k)
		}
	}
	for _, a := range o.DummyAddresses {
		if own.OwnsAddress(a) {
			p.Addresses = append(p.Addresses, a)
		}
	}
	for _, rs := range o.OurRules {
		if hasRules(rs) {
			p.OurRules = append(p.OurRules, rs)
		}
	}
	ours := OurSetNames()
	for _, s := range o.Sets {
		if slices.Contains(ours, s) {
			p.Sets = append(p.Sets, s)
		}
	}
	return p.sorted()
}

// KubeProxy is what kube-proxy's IPVS mode leaves behind: the virtual
// servers on the dummy link's or the node's addresses that ipvs-proxy's
// ledger does not record (kube-proxy binds ClusterIPs, external and
// load-balancer IPs to kube-ipvs0 and puts NodePorts on node addresses),
// the dummy-link addresses no ClusterIP entry of ours carries (except the
// kernel's link-local one), its KUBE-*
// chains (ForeignRules) and its sets. Virtual servers on other addresses
// are left alone.
func KubeProxy(o Observed) Plan {
	own := ledger.Read(o.Ledger)
	p := Plan{DummyInterface: o.DummyInterface, ForeignChains: o.ForeignRules}
	onNode := map[netip.Addr]bool{}
	for _, a := range o.DummyAddresses {
		onNode[a] = true
		// The kernel's own link-local address is nobody's Service.
		if !own.OwnsAddress(a) && !a.IsLinkLocalUnicast() {
			p.Addresses = append(p.Addresses, a)
		}
	}
	for _, a := range o.LocalAddresses {
		onNode[a] = true
	}
	for _, k := range o.VirtualServers {
		if onNode[k.Address] && !own.OwnsService(k) {
			p.VirtualServers = append(p.VirtualServers, k)
		}
	}
	kp := KubeProxySetNames()
	for _, s := range o.Sets {
		if slices.Contains(kp, s) {
			p.Sets = append(p.Sets, s)
		}
	}
	return p.sorted()
}

func hasRules(rs rules.Ruleset) bool {
	for _, t := range rs.Tables {
		if len(t.Chains) > 0 || len(t.Jumps) > 0 {
			return true
		}
	}
	return false
}

func (p Plan) sorted() Plan {
	slices.SortFunc(p.VirtualServers, ipvs.Key.Compare)
	slices.SortFunc(p.Addresses, netip.Addr.Compare)
	slices.Sort(p.Sets)
	return p
}

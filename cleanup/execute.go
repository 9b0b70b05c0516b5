package cleanup

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// ChainRemover removes foreign chains and the jumps into them
// (rules.Kernel.RemoveChains); with dryRun it only says what it would remove.
type ChainRemover interface {
	RemoveChains(f rules.Family, table string, chains []string, dryRun bool) ([]string, error)
}

// Kernel is what cleanup reads and changes.
type Kernel struct {
	IPVS   ipvs.Interface
	Sets   ipset.Interface
	Links  netif.Interface
	Rules  rules.Interface
	Chains ChainRemover
}

// Observe reads the kernel state both plans need; kubeProxy adds what only
// KubeProxy needs (kube-proxy's sets and chains).
func Observe(k Kernel, dummy string, kubeProxy bool) (Observed, error) {
	o := Observed{DummyInterface: dummy, Ledger: state.NewMemberSet(0)}
	svcs, err := k.IPVS.Dump()
	if err != nil {
		return o, fmt.Errorf("observe IPVS: %w", err)
	}
	for _, s := range svcs {
		o.VirtualServers = append(o.VirtualServers, s.Key)
	}
	for _, s := range desired.AllSets() {
		es, err := k.Sets.List(s.Name)
		if errors.Is(err, ipset.ErrNotFound) {
			continue
		}
		if err != nil {
			return o, fmt.Errorf("observe ipset %s: %w", s.Name, err)
		}
		o.Sets = append(o.Sets, s.Name)
		for _, e := range es {
			o.Ledger.Add(state.Member{Set: s.Name, Entry: e})
		}
	}
	addrs, err := k.Links.Addresses(dummy)
	if err != nil && !errors.Is(err, syscall.ENODEV) {
		return o, fmt.Errorf("observe %s: %w", dummy, err)
	}
	o.DummyAddresses = addrs
	local, err := k.Links.LocalAddresses(dummy)
	if err != nil {
		return o, fmt.Errorf("observe node addresses: %w", err)
	}
	for _, a := range local {
		if a.Link != dummy {
			o.LocalAddresses = append(o.LocalAddresses, a.Addr)
		}
	}
	for _, f := range families {
		rs, err := k.Rules.Dump(f)
		if err != nil {
			return o, fmt.Errorf("observe iptables (%s): %w", f, err)
		}
		o.OurRules = append(o.OurRules, rs)
	}
	if !kubeProxy {
		return o, nil
	}
	for _, name := range KubeProxySetNames() {
		// kube-proxy's bitmap:port sets are not a type our adapter lists;
		// any answer but "not found" means the set exists.
		if _, err := k.Sets.List(name); !errors.Is(err, ipset.ErrNotFound) {
			o.Sets = append(o.Sets, name)
		}
	}
	for _, f := range families {
		for _, table := range []string{"nat", "filter"} {
			lines, err := k.Chains.RemoveChains(f, table, kubeProxyChains[table], true)
			if err != nil {
				return o, fmt.Errorf("observe kube-proxy chains (%s %s): %w", f, table, err)
			}
			if len(lines) > 0 {
				o.ForeignRules = append(o.ForeignRules, TableLines{Family: f, Table: table, Lines: lines})
			}
		}
	}
	return o, nil
}

// Execute carries p out in its order, going on past failures, and returns
// every failure joined. Objects already gone count as removed.
func Execute(k Kernel, p Plan) error {
	var errs []error
	for _, key := range p.VirtualServers {
		if err := k.IPVS.DeleteVirtualServer(key); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("delete virtual server %s: %w", key, err))
		}
	}
	for _, a := range p.Addresses {
		if err := k.Links.DelAddress(p.DummyInterface, a); err != nil {
			errs = append(errs, fmt.Errorf("delete address %s from %s: %w", a, p.DummyInterface, err))
		}
	}
	for _, rs := range p.OurRules {
		if err := k.Rules.Apply(rules.Ruleset{Family: rs.Family}); err != nil {
			errs = append(errs, fmt.Errorf("remove our iptables chains (%s): %w", rs.Family, err))
		}
	}
	for _, tl := range p.ForeignChains {
		if _, err := k.Chains.RemoveChains(tl.Family, tl.Table, kubeProxyChains[tl.Table], false); err != nil {
			errs = append(errs, fmt.Errorf("remove kube-proxy chains (%s %s): %w", tl.Family, tl.Table, err))
		}
	}
	if len(errs) > 0 && len(p.Sets) > 0 {
		// Our sets are the ledger: kept, they let a second run find what
		// is left; and a set a rule still references cannot be destroyed.
		return errors.Join(append(errs, errors.New("ipsets kept because earlier steps failed; run cleanup again"))...)
	}
	for _, s := range p.Sets {
		if err := k.Sets.Destroy(s); err != nil {
			errs = append(errs, fmt.Errorf("destroy ipset %s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

func gone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH)
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/cleanup"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
)

// Taking over a node from kube-proxy's IPVS mode (config takeover: auto).
//
// At start (Run) ipvs-proxy looks for kube-proxy's ipsets and knocks on
// kube-proxy's healthz and metrics ports on loopback. When the sets exist and
// nothing answers, kube-proxy left its state and no longer runs: the
// Reconciler's full syncs then also adopt, in place, every virtual server
// kube-proxy owned that the desired state wants (ledger.TakeOver: the ledger
// member is written, the virtual server is neither deleted nor re-created,
// and the diff edits its scheduler, persistence and real servers), and the
// dummy-link addresses those carry. After the first full sync that succeeds,
// kube-proxy's leftovers go (cleanup.TakeOver: its KUBE-* chains and jumps,
// its sets, the virtual servers it owned that no Service needs, the
// dummy-link addresses no ledger entry of ours carries), and takeover ends.
// A failure leaves it on, so the retried full sync tries again; a restart
// half way starts over, and adopting is idempotent.

// kubeProxyAddresses are where a running kube-proxy answers with its default
// configuration: healthz (0.0.0.0:10256) and metrics (127.0.0.1:10249).
var kubeProxyAddresses = []string{"127.0.0.1:10256", "127.0.0.1:10249"}

// decideTakeOver says whether to take over and why: only in mode auto (or empty), when
// kube-proxy's sets exist and nothing answers at kube-proxy's addresses.
func decideTakeOver(mode string, kubeProxyState bool, answering []string) (bool, string) {
	switch {
	case mode == v1alpha1.TakeoverOff:
		return false, "takeover is off"
	case !kubeProxyState:
		return false, "no kube-proxy IPVS state on this node"
	case len(answering) > 0:
		return false, fmt.Sprintf("kube-proxy seems to run (%v answer): its virtual servers stay foreign; stop it and restart ipvs-proxy to take over", answering)
	}
	return true, "kube-proxy's ipsets exist and kube-proxy does not answer"
}

// kubeProxyState tells whether any of kube-proxy's IPVS-mode sets exists.
// Its bitmap:port sets are not a type our adapter lists: any answer but
// "not found" means the set exists.
func kubeProxyState(sets ipset.Interface) bool {
	for _, name := range cleanup.KubeProxySetNames() {
		if _, err := sets.List(name); !errors.Is(err, ipset.ErrNotFound) {
			return true
		}
	}
	return false
}

// answering returns the addresses that accept a TCP connection within timeout.
func answering(addrs []string, timeout time.Duration) []string {
	var out []string
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, timeout)
		if err == nil {
			c.Close()
			out = append(out, a)
		}
	}
	return out
}

// setUpTakeOver decides at start whether rec takes over from kube-proxy and
// logs the decision once. chains removes kube-proxy's chains (the real
// rules.Kernel); without it there is no takeover.
func setUpTakeOver(ctx context.Context, cfg v1alpha1.Config, sets ipset.Interface, chains cleanup.ChainRemover, rec *Reconciler) {
	present := cfg.Takeover != v1alpha1.TakeoverOff && kubeProxyState(sets)
	var ans []string
	if present {
		ans = answering(kubeProxyAddresses, 500*time.Millisecond)
	}
	on, why := decideTakeOver(cfg.Takeover, present, ans)
	if on && chains == nil {
		on, why = false, "iptables chains cannot be removed by this build"
	}
	log := logr.FromContextOrDiscard(ctx)
	if on || present {
		log.Info("takeover from kube-proxy", "enabled", on, "reason", why)
	} else {
		log.V(1).Info("takeover from kube-proxy", "enabled", false, "reason", why)
	}
	if on {
		rec.EnableTakeOver(chains)
	}
}

// takeoverState is the Reconciler's while a takeover is on.
type takeoverState struct {
	chains  cleanup.ChainRemover
	adopted int // virtual servers adopted so far
}

// TakeOverResult is what a takeover did, in the sync that ended it (or
// failed to).
type TakeOverResult struct {
	// Adopted counts the virtual servers adopted in place from kube-proxy
	// (over every full sync of the takeover).
	Adopted int
	// Removed is the plan of kube-proxy's leftovers that was carried out.
	Removed cleanup.Plan
	// Done: the leftovers are gone and takeover is off.
	Done bool
	// Evidence is what kube-proxy's sets recorded: virtual servers on the
	// dummy link, and the NodePort sets found.
	Evidence string
}

// EnableTakeOver makes the next full syncs take over from kube-proxy
// (see above); chains removes its iptables chains.
func (r *Reconciler) EnableTakeOver(chains cleanup.ChainRemover) {
	r.takeover = &takeoverState{chains: chains}
}

// TakingOver tells whether a takeover is on.
func (r *Reconciler) TakingOver() bool { return r.takeover != nil }

// readKubeProxy lists kube-proxy's evidence sets while a takeover is on (nil otherwise).
func (r *Reconciler) readKubeProxy() (*ledger.KubeProxy, error) {
	if r.takeover == nil {
		return nil, nil
	}
	recording, nodePort := ledger.KubeProxyEvidenceSets()
	members := map[string][]ipset.Entry{}
	var present []string
	for _, s := range recording {
		es, err := r.k.Sets.List(s)
		if errors.Is(err, ipset.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("takeover: read kube-proxy's %s: %w", s, err)
		}
		members[s] = es
		present = append(present, s)
	}
	for _, s := range nodePort {
		if _, err := r.k.Sets.List(s); !errors.Is(err, ipset.ErrNotFound) {
			present = append(present, s)
		}
	}
	kp := ledger.ReadKubeProxy(members, present)
	return &kp, nil
}

// finishTakeOver removes kube-proxy's leftovers after a full sync that
// adopted what we want: the virtual servers it deletes leave the foreign
// set, and the Services that wanted them (they collided) are retried. On
// success takeover ends.
func (r *Reconciler) finishTakeOver(kp *ledger.KubeProxy, res *Result) error {
	k := cleanup.Kernel{IPVS: r.k.IPVS, Sets: r.k.Sets, Links: r.k.Links, Rules: r.k.Rules, Chains: r.takeover.chains}
	o, err := cleanup.Observe(k, r.cfg.DummyInterface, true)
	if err != nil {
		return fmt.Errorf("takeover: %w", err)
	}
	p := cleanup.TakeOver(o, *kp)
	res.TakeOver = &TakeOverResult{Adopted: r.takeover.adopted, Removed: p, Evidence: kp.String()}
	err = cleanup.Execute(k, p)
	for _, key := range p.VirtualServers {
		delete(r.foreign, key)
		for _, n := range r.index.Owners(key) {
			res.retry(n)
		}
	}
	if err != nil {
		return fmt.Errorf("takeover: remove kube-proxy's leftovers: %w", err)
	}
	res.TakeOver.Done = true
	r.takeover = nil
	return nil
}

// logTakeOver logs what a takeover adopted and removed, with counts.
func logTakeOver(log logr.Logger, t *TakeOverResult) {
	chains := 0
	for _, tl := range t.Removed.ForeignChains {
		chains += len(tl.Lines)
	}
	kv := []any{"adopted", t.Adopted, "kubeProxyRecords", t.Evidence, "removedVirtualServers", len(t.Removed.VirtualServers),
		"removedAddresses", len(t.Removed.Addresses), "removedSets", len(t.Removed.Sets), "removedRuleLines", chains}
	if t.Done {
		log.Info("took over from kube-proxy", kv...)
		return
	}
	log.Info("taking over from kube-proxy: leftovers not all removed yet; retrying", kv...)
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ipvs-proxy/ipvs-proxy/cleanup"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// openCleanupKernel opens the real adapters; tests replace it with fakes.
var openCleanupKernel = func() (cleanup.Kernel, func(), error) {
	iv, err := ipvs.New()
	if err != nil {
		return cleanup.Kernel{}, nil, fmt.Errorf("open IPVS (is the ip_vs module loaded?): %w", err)
	}
	sets, err := ipset.New()
	if err != nil {
		iv.Close()
		return cleanup.Kernel{}, nil, fmt.Errorf("open ipset: %w", err)
	}
	links, err := netif.New()
	if err != nil {
		iv.Close()
		sets.Close()
		return cleanup.Kernel{}, nil, fmt.Errorf("open netlink: %w", err)
	}
	rl, err := rules.New(rules.Config{})
	if err != nil {
		iv.Close()
		sets.Close()
		links.Close()
		return cleanup.Kernel{}, nil, err
	}
	k := cleanup.Kernel{IPVS: iv, Sets: sets, Links: links, Rules: rl, Chains: rl}
	return k, func() { iv.Close(); sets.Close(); links.Close() }, nil
}

func newCleanupCommand() *cobra.Command {
	var kubeProxy, dryRun bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what ipvs-proxy owns from this node's kernel (or, with --kube-proxy, what kube-proxy's IPVS mode left)",
		Long: `cleanup removes exactly what ipvs-proxy owns: the virtual servers its ledger
(the IPVS-PROXY-* ipsets) records, the dummy-link addresses a ClusterIP
ledger entry carries, its IPVS-PROXY-* iptables chains and the jumps into
them, and its ipsets. Nothing else is touched.

With --kube-proxy it instead removes what kube-proxy's IPVS mode leaves
behind: its KUBE-* chains (not kubelet's) and the jumps into them, its KUBE-*
ipsets, the virtual servers on the dummy link's and the node's addresses that
ipvs-proxy's ledger does not record, and the dummy-link addresses no ClusterIP
entry of ours carries. Run it once, before ipvs-proxy takes over a node.

It prints what it removes first; --dry-run prints only. Stop ipvs-proxy on
the node first, or it re-creates what it owns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, warnings, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			k, closeKernel, err := openCleanupKernel()
			if err != nil {
				return err
			}
			defer closeKernel()
			return runCleanup(cmd.OutOrStdout(), k, cfg.DummyInterface, kubeProxy, dryRun)
		},
	}
	cmd.Flags().BoolVar(&kubeProxy, "kube-proxy", false, "remove kube-proxy's IPVS-mode leftovers instead of ipvs-proxy's own objects")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be removed and change nothing")
	addConfigFlags(cmd.Flags())
	return cmd
}

// runCleanup observes, prints the plan, and unless dryRun carries it out.
func runCleanup(w io.Writer, k cleanup.Kernel, dummy string, kubeProxy, dryRun bool) error {
	o, err := cleanup.Observe(k, dummy, kubeProxy)
	if err != nil {
		return err
	}
	p, what := cleanup.Ours(o), "ipvs-proxy's objects"
	if kubeProxy {
		p, what = cleanup.KubeProxy(o), "kube-proxy's IPVS-mode leftovers"
	}
	verb := "removing"
	if dryRun {
		verb = "would remove (dry run)"
	}
	if _, err := fmt.Fprintf(w, "# %s %s:\n%s", verb, what, p); err != nil {
		return err
	}
	if dryRun || p.Empty() {
		return nil
	}
	if err := cleanup.Execute(k, p); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	_, err = fmt.Fprintln(w, "# done")
	return err
}

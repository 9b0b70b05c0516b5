package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/manifest"
)

// planOptions are the flags of plan besides the configuration's.
type planOptions struct {
	paths []string
	// nodeAddresses replace the Node's addresses when set (even to nothing).
	nodeAddresses    []string
	nodeAddressesSet bool
	// stdin is read for -f - (nil: os.Stdin).
	stdin io.Reader
}

func newPlanCommand() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan -f PATH [-f PATH ...] --node-name NAME [--node-addresses IP,IP,...]",
		Short: "Print the IPVS state and iptables rules ipvs-proxy would set up for Services read from files",
		Long: `plan reads Services, EndpointSlices and Nodes from YAML or JSON files (or
folders of them) and prints, without touching the kernel or the API server,
what ipvs-proxy would set up on the node: IPVS virtual and real servers,
dummy-link addresses, ipset members and iptables rules.

NodePort addresses come from --node-addresses or else from the InternalIP and
ExternalIP addresses of the Node named --node-name in the inputs. Other kinds
and invalid objects are skipped with a note on stderr. "-f -" reads the
standard input; each input may hold at most 64 MiB.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, warnings, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			o.nodeAddressesSet = cmd.Flags().Changed("node-addresses")
			o.stdin = cmd.InOrStdin()
			return plan(cfg, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.paths, "filename", "f", nil, "YAML or JSON `PATH`, a folder of *.yaml, *.yml and *.json files, or - for stdin (repeatable)")
	fs.StringSliceVar(&o.nodeAddresses, "node-addresses", nil, "node `IPs` for NodePorts, instead of the Node's InternalIP and ExternalIP")
	_ = cmd.MarkFlagRequired("filename")
	addConfigFlags(fs)
	return cmd
}

// plan prints on stdout what ipvs-proxy would set up for the objects in
// o.paths, and on stderr what it skipped.
func plan(cfg v1alpha1.Config, o planOptions, stdout, stderr io.Writer) error {
	objs, notes, err := manifest.Loader{Stdin: o.stdin}.Load(o.paths)
	for _, n := range notes {
		fmt.Fprintln(stderr, n)
	}
	if err != nil {
		return err
	}
	addrs, err := nodeAddresses(cfg.NodeName, o, objs.Nodes)
	if err != nil {
		return err
	}
	node := findNode(cfg.NodeName, objs.Nodes) // nil when absent: no zone, podCIDRs or primary IPs
	eligible := desired.FilterNodeAddresses(addrs, desired.NodePortPrefixes(cfg.NodePortAddresses, desired.PrimaryNodeIPs(node)))
	if len(addrs) > 0 && len(eligible) == 0 {
		fmt.Fprintf(stderr, "no node address of %v is eligible for NodePorts (nodePortAddresses %v)\n", addrs, cfg.NodePortAddresses)
	}
	st, errs := desired.Build(desired.Input{
		Services:       objs.Services,
		Slices:         objs.Slices,
		NodeAddresses:  eligible,
		LocalAddresses: desired.FilterLocalAddresses(addrs), // never bound on the dummy link
	}, desired.OptionsFrom(cfg).WithNode(node))
	for _, err := range errs {
		var c *desired.Conflict
		if errors.As(err, &c) {
			fmt.Fprintln(stderr, "warning:", err) // the same words as run's Events on both Services
			continue
		}
		fmt.Fprintln(stderr, "skipping:", err)
	}
	if _, err := io.WriteString(stdout, st.Format(cfg.DummyInterface)); err != nil {
		return err
	}
	inUse := slices.AppendSeq(slices.Clone(eligible), maps.Keys(st.Addresses))
	for _, rs := range desired.RulesFor(cfg, inUse, desired.PodCIDRs(node)) {
		if _, err := io.WriteString(stdout, rs.String()); err != nil {
			return err
		}
	}
	return nil
}

// nodeAddresses returns --node-addresses if given, else the addresses of the
// Node named name.
func nodeAddresses(name string, o planOptions, nodes []*corev1.Node) ([]netip.Addr, error) {
	if o.nodeAddressesSet {
		out := make([]netip.Addr, 0, len(o.nodeAddresses))
		for _, s := range o.nodeAddresses {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("--node-addresses: %w", err)
			}
			out = append(out, a)
		}
		return out, nil
	}
	n := findNode(name, nodes)
	if n == nil {
		return nil, fmt.Errorf("node %s not found in the inputs; give --node-addresses", name)
	}
	addrs := desired.NodeObjectAddresses(n)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("node %s has no InternalIP or ExternalIP address; give --node-addresses", name)
	}
	return addrs, nil
}

// findNode returns the Node named name, or nil.
func findNode(name string, nodes []*corev1.Node) *corev1.Node {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

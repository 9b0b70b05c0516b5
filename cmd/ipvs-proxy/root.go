package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// execute runs the command line args and returns the exit code; an error is
// printed once, on stderr.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(stderr, "ipvs-proxy:", err)
		return 1
	}
	return 0
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ipvs-proxy",
		Short: "Service proxy for Kubernetes nodes using IPVS, a replacement for kube-proxy's IPVS mode",
		// Errors are printed once by execute; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().String(configFlag, "", "configuration `FILE` (YAML); environment IPVS_PROXY_* and flags override it")
	root.AddCommand(newRunCommand(), newPlanCommand(), newVersionCommand())
	root.AddCommand(newCleanupCommand())
	return root
}

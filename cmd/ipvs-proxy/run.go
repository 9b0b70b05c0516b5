package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/ipvs-proxy/ipvs-proxy/controllers"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

func newRunCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Keep this node's IPVS, ipsets and iptables rules in sync with the cluster's Services until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, warnings, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx = withLogger(ctx, cfg, cmd.ErrOrStderr())
			log := logr.FromContextOrDiscard(ctx)
			ipvs.RouteLibraryLogs(log)
			for _, w := range warnings {
				log.Info("configuration warning", "warning", w)
			}
			if setDefaultGCPercent() {
				log.V(1).Info("GOGC not set: the collector's target is the proxy's default", "gcPercent", defaultGCPercent)
			}
			return controllers.Run(ctx, cfg)
		},
	}
	addConfigFlags(cmd.Flags())
	return cmd
}

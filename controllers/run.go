package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/cleanup"
	"github.com/ipvs-proxy/ipvs-proxy/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/kube"
	"github.com/ipvs-proxy/ipvs-proxy/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// Run is `ipvs-proxy run`: it opens the kernel adapters and the API client
// and syncs until ctx ends. cfg must be valid.
func Run(ctx context.Context, cfg v1alpha1.Config) error {
	log := logr.FromContextOrDiscard(ctx)
	restCfg, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return err
	}
	restCfg.UserAgent = "ipvs-proxy"
	// As kube-proxy (clientConnection.contentType): protobuf lists and
	// watches decode in a fraction of JSON's time and garbage.
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	reach := &reachability{} // reachability.go
	restCfg.Wrap(reach.wrap)
	client, err := kube.New(restCfg) // not client-go's clientset: see kube/scheme.go
	if err != nil {
		return err
	}
	k, closeKernel, err := OpenKernel()
	if err != nil {
		return err
	}
	defer closeKernel()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(client.Events())
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(kube.Scheme, corev1.EventSource{Component: "ipvs-proxy", Host: cfg.NodeName})

	// Health like kube-proxy's: unhealthy after twice the sync period of queued work.
	st := NewStatus(metrics.New(), 2*cfg.SyncPeriod, nil)
	st.APIServer = restCfg.Host
	st.Probe = client.Version
	rec := NewReconciler(countKernel(k, st.Metrics()), cfg)
	rec.asyncAudit = true // auditread.go
	if rec.crash, err = crashPointFrom(os.Getenv); err != nil {
		return err
	} else if rec.crash != nil {
		log.Info("crash test hook armed: SIGKILL to ourselves during the first large sync", "env", CrashPointEnv, "at", rec.crash.at)
	}
	chains, _ := k.Rules.(cleanup.ChainRemover)
	setUpTakeOver(ctx, cfg, k.Sets, chains, rec) // before our servers bind kube-proxy's ports
	ctrl := NewController(client, rec, cfg, recorder)
	ctrl.status = st
	hc := healthcheck.NewManager(healthcheck.Listen, func() bool { return st.Healthy(2*cfg.SyncPeriod + time.Minute) })
	defer hc.Close()
	ctrl.EnableHealthChecks(hc)
	for _, s := range []struct {
		what, addr string
		mux        *http.ServeMux
	}{{"healthz", cfg.HealthzAddress, healthMux(st)}, {"metrics", cfg.MetricsAddress, metricsMux(st, cfg.EnableProfiling)}} {
		if s.addr == "" {
			continue
		}
		stop, err := serve(ctx, s.what, s.addr, s.mux)
		if err != nil {
			return err
		}
		defer stop()
	}
	go reach.run(ctx, restCfg.Host)
	log.Info("starting", "node", cfg.NodeName, "apiServer", restCfg.Host, "scheduler", cfg.Scheduler, "dummyInterface", cfg.DummyInterface,
		"healthz", cfg.HealthzAddress, "metrics", cfg.MetricsAddress, "drainTimeout", cfg.DrainTimeout, "drainCheckPeriod", cfg.DrainCheckPeriod)
	return ctrl.Run(ctx)
}

// serve listens on addr now (so a port in use is an error at start) and
// serves mux in the background until the returned stop is called.
func serve(ctx context.Context, what, addr string, mux http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s server: %w", what, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logr.FromContextOrDiscard(ctx).Error(err, "server stopped", "server", what, "address", addr)
		}
	}()
	return func() { _ = srv.Close() }, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set kubeconfig outside a cluster): %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// OpenKernel opens the real adapters: IPVS, ipsets and links over netlink,
// rules over iptables-restore, sysctls over /proc/sys.
func OpenKernel() (Kernel, func(), error) {
	iv, err := ipvs.New()
	if err != nil {
		return Kernel{}, nil, fmt.Errorf("open IPVS (is the ip_vs module loaded?): %w", err)
	}
	sets, err := ipset.New()
	if err != nil {
		iv.Close()
		return Kernel{}, nil, fmt.Errorf("open ipset: %w", err)
	}
	links, err := netif.New()
	if err != nil {
		iv.Close()
		sets.Close()
		return Kernel{}, nil, fmt.Errorf("open netlink: %w", err)
	}
	rl, err := rules.New(rules.Config{})
	if err != nil {
		iv.Close()
		sets.Close()
		links.Close()
		return Kernel{}, nil, err
	}
	k := Kernel{IPVS: iv, Sets: sets, Links: links, Rules: rl, Sysctls: sysctl.New(), Conntrack: conntrack.Netlink{}}
	return k, func() { iv.Close(); sets.Close(); links.Close() }, nil
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/healthcheck"
	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
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
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	k, closeKernel, err := OpenKernel()
	if err != nil {
		return err
	}
	defer closeKernel()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "ipvs-proxy", Host: cfg.NodeName})

	ctrl := NewController(client, NewReconciler(k, cfg), cfg, recorder)
	hc := healthcheck.NewManager(healthcheck.Listen, func() bool { return ctrl.Status().Healthy(2*cfg.SyncPeriod + time.Minute) })
	defer hc.Close()
	ctrl.EnableHealthChecks(hc)
	if cfg.HealthzAddress != "" {
		srv := &http.Server{Addr: cfg.HealthzAddress, Handler: healthMux(ctrl.Status(), 2*cfg.SyncPeriod+time.Minute), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(err, "healthz server stopped", "address", cfg.HealthzAddress)
			}
		}()
		defer srv.Close()
	}
	log.Info("starting", "node", cfg.NodeName, "scheduler", cfg.Scheduler, "dummyInterface", cfg.DummyInterface,
		"drainTimeout", cfg.DrainTimeout, "drainCheckPeriod", cfg.DrainCheckPeriod)
	return ctrl.Run(ctx)
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

func healthMux(st *Status, maxAge time.Duration) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !st.Healthy(maxAge) {
			http.Error(w, "no successful sync recently", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { st.WriteMetrics(w) })
	return mux
}

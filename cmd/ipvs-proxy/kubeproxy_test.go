package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const kpHeader = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"

// Every field of the README's table lands on our key.
func TestKubeProxyConfigMapped(t *testing.T) {
	cleanEnv(t)
	path := writeFile(t, kpHeader+`mode: ipvs
clientConnection: {kubeconfig: /var/lib/kube-proxy/kubeconfig.conf}
hostnameOverride: node-7
clusterCIDR: 10.244.0.0/16,fd00:244::/56
nodePortAddresses: [192.168.1.0/24]
ipvs: {scheduler: wrr, syncPeriod: 45s, minSyncPeriod: 2s}
iptables: {masqueradeAll: true, masqueradeBit: 14}
healthzBindAddress: 0.0.0.0:10256
logging: {format: json, verbosity: 2}
`)
	cfg, warnings, err := loadConfig(configFlags(t, "--config", path))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	got := []any{cfg.Kubeconfig, cfg.NodeName, cfg.ClusterCIDR, cfg.NodePortAddresses, cfg.Scheduler, cfg.SyncPeriod, cfg.MinSyncPeriod,
		cfg.MasqueradeAll, cfg.MasqueradeBit, cfg.HealthzAddress, cfg.LogFormat, cfg.Verbosity}
	want := []any{"/var/lib/kube-proxy/kubeconfig.conf", "node-7", "10.244.0.0/16,fd00:244::/56", []string{"192.168.1.0/24"}, "wrr", 45 * time.Second, 2 * time.Second,
		true, 14, "0.0.0.0:10256", "json", 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %v\nwant     %v", got, want)
	}

	// Environment and flags still override the file.
	t.Setenv("IPVS_PROXY_SCHEDULER", "lc")
	cfg, _, err = loadConfig(configFlags(t, "--config", path, "--node-name", "node-8"))
	if err != nil || cfg.Scheduler != "lc" || cfg.NodeName != "node-8" {
		t.Errorf("overrides: scheduler %q node %q, error %v", cfg.Scheduler, cfg.NodeName, err)
	}
}

// Top-level sync periods (later kube-proxy versions) count when ipvs.* are not set; ipvs.* win.
func TestKubeProxyConfigSyncPeriods(t *testing.T) {
	cleanEnv(t)
	cfg, warnings, err := loadConfig(configFlags(t, "--config", writeFile(t, kpHeader+"mode: ipvs\nsyncPeriod: 1m\nminSyncPeriod: 5s\n")))
	if err != nil || cfg.SyncPeriod != time.Minute || cfg.MinSyncPeriod != 5*time.Second || len(warnings) != 0 {
		t.Errorf("top-level: %s %s %q %v", cfg.SyncPeriod, cfg.MinSyncPeriod, warnings, err)
	}
	cfg, warnings, err = loadConfig(configFlags(t, "--config", writeFile(t, kpHeader+"mode: ipvs\nsyncPeriod: 1m\nipvs: {syncPeriod: 2m}\n")))
	want := []string{"KubeProxyConfiguration field syncPeriod is ignored: ipvs.syncPeriod is set too and wins"}
	if err != nil || cfg.SyncPeriod != 2*time.Minute || len(warnings) != 1 || !strings.HasSuffix(warnings[0], want[0]) {
		t.Errorf("both: %s %q %v", cfg.SyncPeriod, warnings, err)
	}
}

// Ignored fields give one warning each when set; kube-proxy's defaults and
// zero values (as kubeadm writes them) give none.
func TestKubeProxyConfigIgnoredFields(t *testing.T) {
	cleanEnv(t)
	kubeadm, err := filepath.Abs(filepath.Join("testdata", "kubeadm-kube-proxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, warnings, err := loadConfig(configFlags(t, "--config", kubeadm))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string(nil); !slices.Equal(warnings, want) {
		t.Errorf("warnings of kubeadm's file =\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}

	path := writeFile(t, kpHeader+`mode: ipvs
featureGates: {SomeGate: true, Other: false}
bindAddress: 10.0.0.1
metricsBindAddress: 0.0.0.0:10249
conntrack: {maxPerCore: 0, min: 262144, tcpEstablishedTimeout: 24h}
ipvs: {excludeCIDRs: [10.0.0.0/8], tcpTimeout: 900s}
iptables: {syncPeriod: 30s, localhostNodePorts: false}
winkernel: {enableDSR: true}
`)
	_, warnings, err = loadConfig(configFlags(t, "--config", path))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, w := range warnings {
		_, rest, _ := strings.Cut(w, "KubeProxyConfiguration field ")
		f, _, _ := strings.Cut(rest, " ")
		fields = append(fields, f)
	}
	want := []string{"ipvs.excludeCIDRs", "bindAddress", "conntrack.min", "featureGates", "winkernel.enableDSR"}
	if !slices.Equal(fields, want) {
		t.Errorf("warned fields = %q, want %q\n%s", fields, want, strings.Join(warnings, "\n"))
	}
}

// kube-proxy's host settings, local-traffic detector and metrics address
// map onto ours.
func TestKubeProxyConfigHostFields(t *testing.T) {
	cleanEnv(t)
	path := writeFile(t, kpHeader+`mode: ipvs
metricsBindAddress: 0.0.0.0:10249
ipvs: {strictARP: true, tcpTimeout: 900s, tcpFinTimeout: 30s, udpTimeout: 10s}
detectLocalMode: InterfaceNamePrefix
detectLocal: {interfaceNamePrefix: veth}
`)
	cfg, warnings, err := loadConfig(configFlags(t, "--config", path))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("warnings %q, err %v", warnings, err)
	}
	if cfg.MetricsAddress != "0.0.0.0:10249" || !cfg.StrictARP || cfg.IPVSTCPTimeout != 900*time.Second ||
		cfg.IPVSTCPFinTimeout != 30*time.Second || cfg.IPVSUDPTimeout != 10*time.Second ||
		cfg.DetectLocalMode != "InterfaceNamePrefix" || cfg.InterfaceNamePrefix != "veth" {
		t.Errorf("mapped config: %+v", cfg)
	}
}

func TestKubeProxyConfigErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"no mode", kpHeader + "clusterCIDR: 10.244.0.0/16\n", []string{`KubeProxyConfiguration: mode is not set, and kube-proxy's default mode is iptables: ipvs-proxy replaces only mode "ipvs"; set mode: ipvs`}},
		{"mode iptables", kpHeader + "mode: iptables\n", []string{`KubeProxyConfiguration: mode "iptables": ipvs-proxy replaces only kube-proxy's mode "ipvs"`}},
		{"mode nftables", kpHeader + "mode: nftables\n", []string{`mode "nftables"`}},
		{"wrong apiVersion", "apiVersion: kubeproxy.config.k8s.io/v1beta9\nkind: KubeProxyConfiguration\nmode: ipvs\n", []string{`apiVersion "kubeproxy.config.k8s.io/v1beta9": a KubeProxyConfiguration must be kubeproxy.config.k8s.io/v1alpha1`}},
		{"unknown field", kpHeader + "mode: ipvs\nipvs: {schedular: wrr}\n", []string{`unknown field "ipvs.schedular"`}},
		{"types and values together", kpHeader + "mode: ipvs\nipvs: {syncPeriod: soon, scheduler: fastest}\niptables: {masqueradeBit: high}\nhealthzBindAddress: 10256\n", []string{
			`ipvs.syncPeriod: "soon" is not a duration`,
			`iptables.masqueradeBit: high is not an integer`,
			`healthzBindAddress: 10256 is not a string`,
			`  - scheduler: "fastest" is not one of`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			path := writeFile(t, tt.file)
			_, _, err := loadConfig(configFlags(t, "--config", path))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%s", w, err)
				}
			}
			if !strings.Contains(err.Error(), "  - config file "+path+": KubeProxyConfiguration: ") {
				t.Errorf("error does not name the file and the kind:\n%s", err)
			}
		})
	}
}

// plan runs with a kube-proxy configuration file: its scheduler is used.
func TestPlanWithKubeProxyConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kube-proxy.yaml")
	if err := os.WriteFile(path, []byte(kpHeader+"mode: ipvs\nipvs: {scheduler: wrr, excludeCIDRs: [10.0.0.0/8]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCommand(t, "plan", "--config", path, "-f", examples+"/web-nodeport.yaml", "--node-name", "node-a")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "-A -t 10.96.100.10:80 -s wrr") {
		t.Errorf("scheduler not applied:\n%s", stdout)
	}
	if !strings.Contains(stderr, "warning: config file "+path+": KubeProxyConfiguration field ipvs.excludeCIDRs is not supported") {
		t.Errorf("stderr = %q", stderr)
	}
}

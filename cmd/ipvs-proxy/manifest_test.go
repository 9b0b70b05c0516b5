package main

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The config file the DaemonSet mounts (config/default/configmap.yaml) loads
// and validates, and keeps kube-proxy's healthz and metrics ports.
func TestDefaultManifestConfigLoads(t *testing.T) {
	cleanEnv(t)
	b, err := os.ReadFile("../../config/default/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := loadConfig(configFlags(t, "--config", p))
	if err != nil {
		t.Fatalf("config/default/configmap.yaml: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("config/default/configmap.yaml warns: %v", warnings)
	}
	if cfg.HealthzAddress != "0.0.0.0:10256" || cfg.MetricsAddress != "127.0.0.1:10249" {
		t.Errorf("healthz %q metrics %q, want kube-proxy's ports", cfg.HealthzAddress, cfg.MetricsAddress)
	}
}

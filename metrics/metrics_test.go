package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The exposition carries kube-proxy's names, label and buckets, served by
// client_golang's handler.
func TestExpositionUsesKubeProxyNamesAndBuckets(t *testing.T) {
	m := New()
	m.SetFamilies([]string{"IPv4", "IPv6"})
	m.Programmed(1500 * time.Millisecond)
	m.Synced(false, 3*time.Millisecond, nil, time.Unix(1700000000, 0))
	m.KernelOp("ipvs_add_virtual_server", nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, s := range []string{
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="0.25"} 0`,
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="2"} 1`,
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="300"} 1`,
		`kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.004"} 1`,
		`kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="16.384"} 1`,
		`kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family="IPv6"} 1`,
		`kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09`,
		`ipvs_proxy_syncs_total{kind="incremental",result="success"} 1`,
		`ipvs_proxy_kernel_operations_total{kind="ipvs_add_virtual_server",result="success"} 1`,
		`ipvs_proxy_owned_objects{kind="virtual_server"} 0`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("exposition lacks %q", s)
		}
	}
	if n := len(programmingBuckets()); n != 2+59+12+7 {
		t.Errorf("network programming buckets: %d, want kube-proxy's 80", n)
	}
}

package desired

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
)

// issue #9 item 5: families follow every address in use, cluster IPs included.
func TestFamilies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		inUse [][]netip.Addr
		want  []rules.Family
	}{
		{"nothing: IPv4", nil, []rules.Family{rules.IPv4}},
		{"IPv4 node", [][]netip.Addr{addrs("192.168.1.10")}, []rules.Family{rules.IPv4}},
		{"IPv4 node, IPv6 cluster IP", [][]netip.Addr{addrs("192.168.1.10"), addrs("10.96.0.1", "fd00::10")}, []rules.Family{rules.IPv4, rules.IPv6}},
		{"IPv4-mapped is IPv4", [][]netip.Addr{addrs("::ffff:10.0.0.1")}, []rules.Family{rules.IPv4}},
	} {
		if got := Families(tt.inUse...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// issue #9 item 6: without clusterCIDR and masqueradeAll, node traffic from
// a cluster IP is masqueraded (src,dst); detectLocalMode picks the detector.
func TestRulesForDetectLocal(t *testing.T) {
	base := v1alpha1.Defaults()
	base.NodeName = "node-a"
	with := func(f func(*v1alpha1.Config)) v1alpha1.Config { c := base; f(&c); return c }
	pods := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:244:1::/64")}
	dual := addrs("192.168.1.10", "fd00::10")
	for _, tt := range []struct {
		name string
		cfg  v1alpha1.Config
		want map[rules.Family]string // a substring of the family's IPVS-PROXY-SERVICES ClusterIP rule
	}{
		{"no clusterCIDR: src,dst in both families", base, map[rules.Family]string{
			rules.IPv4: "--match-set IPVS-PROXY-CLUSTER-IP src,dst -j IPVS-PROXY-MARK-MASQ",
			rules.IPv6: "--match-set IPVS-PROXY6-CLUSTER-IP src,dst -j IPVS-PROXY-MARK-MASQ"}},
		{"ClusterCIDR of IPv4 only: IPv6 falls back to src,dst", with(func(c *v1alpha1.Config) { c.ClusterCIDR = "10.244.0.0/16" }), map[rules.Family]string{
			rules.IPv4: "! -s 10.244.0.0/16 ",
			rules.IPv6: "--match-set IPVS-PROXY6-CLUSTER-IP src,dst"}},
		{"NodeCIDR uses the Node's podCIDRs, not clusterCIDR", with(func(c *v1alpha1.Config) {
			c.DetectLocalMode, c.ClusterCIDR = v1alpha1.DetectLocalNodeCIDR, "10.244.0.0/16"
		}), map[rules.Family]string{rules.IPv4: "! -s 10.244.1.0/24 ", rules.IPv6: "! -s fd00:244:1::/64 "}},
		{"BridgeInterface", with(func(c *v1alpha1.Config) {
			c.DetectLocalMode, c.BridgeInterface = v1alpha1.DetectLocalBridgeInterface, "cni0"
		}), map[rules.Family]string{rules.IPv4: "! -i cni0 ", rules.IPv6: "! -i cni0 "}},
		{"InterfaceNamePrefix", with(func(c *v1alpha1.Config) {
			c.DetectLocalMode, c.InterfaceNamePrefix = v1alpha1.DetectLocalInterfaceNamePrefix, "veth"
		}), map[rules.Family]string{rules.IPv4: "! -i veth+ ", rules.IPv6: "! -i veth+ "}},
		{"masqueradeAll wins", with(func(c *v1alpha1.Config) {
			c.MasqueradeAll, c.DetectLocalMode, c.BridgeInterface = true, v1alpha1.DetectLocalBridgeInterface, "cni0"
		}), map[rules.Family]string{rules.IPv4: "masquerade all traffic", rules.IPv6: "masquerade all traffic"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatalf("config: %v", err)
			}
			rss := RulesFor(tt.cfg, dual, pods)
			if len(rss) != 2 {
				t.Fatalf("%d families, want 2", len(rss))
			}
			for _, rs := range rss {
				var clusterRule string
				for _, r := range rs.Tables[0].Chains[2].Rules {
					if strings.Contains(r, "CLUSTER-IP") {
						clusterRule = r
					}
				}
				if !strings.Contains(clusterRule, tt.want[rs.Family]) {
					t.Errorf("%s: ClusterIP rule %q lacks %q", rs.Family, clusterRule, tt.want[rs.Family])
				}
				if err := (rules.Spec{Family: rs.Family}).Validate(); err == nil {
					t.Fatal("sanity: empty spec validated")
				}
			}
		})
	}
}

func TestPodCIDRsAndWithNode(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.7/24", "bad", "fd00:244:1::/64"}},
	}
	got := PodCIDRs(n)
	if want := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:244:1::/64")}; !slices.Equal(got, want) {
		t.Errorf("PodCIDRs = %v, want %v", got, want)
	}
	if o := opt.WithNode(n); o.Zone != "zone-a" || o.NodeName != opt.NodeName {
		t.Errorf("WithNode: %+v", o)
	}
	if o := OptionsFrom(v1alpha1.Config{Scheduler: "mh", NodeName: "n", ServiceProxyName: "ipvs-proxy"}); o.SchedulerFlags.Names("mh") != "mh-port" || o.ProxyName != "ipvs-proxy" {
		t.Errorf("OptionsFrom(mh) = %+v, want mh-port and ProxyName ipvs-proxy", o)
	}
}

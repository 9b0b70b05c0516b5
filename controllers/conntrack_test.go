package controllers

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/conntrack"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

func udpFlow(client, dst, replySrc string) conntrack.Flow {
	c := netip.MustParseAddrPort(client)
	return conntrack.Flow{Protocol: ipvs.UDP, OrigSrc: c, OrigDst: netip.MustParseAddrPort(dst),
		ReplySrc: netip.MustParseAddrPort(replySrc), ReplyDst: c}
}

// UDP endpoint removed, cluster IP changed, node port changed: the conntrack
// entries that point at what is gone are deleted, the others stay; TCP
// entries are left to their connections.
func TestConntrackCleanup(t *testing.T) {
	fk := newFakeKernel()
	ct := conntrack.NewFake()
	fk.Kernel.Conntrack = ct
	r := newTestReconciler(t, fk)
	src := newSource()
	dns := nsn("kube-system/dns")
	src.put(service("kube-system/dns", "10.96.0.53", port("dns", corev1.ProtocolUDP, 53, 30053)),
		epSlice("kube-system/dns-1", "dns", "dns", corev1.ProtocolUDP, 5353, "10.244.1.7", "10.244.2.7"))
	src.put(service("default/web", "10.96.0.10", port("http", "", 80, 0)),
		epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1"))
	mustFull(t, r, src)
	base := len(ct.Calls()) // the first sync clears un-NATed flows to the new UDP virtual servers

	toGone := udpFlow("10.244.5.5:40000", "10.96.0.53:53", "10.244.1.7:5353")
	toKept := udpFlow("10.244.5.5:40001", "10.96.0.53:53", "10.244.2.7:5353")
	nodeGone := udpFlow("192.168.1.100:5000", "192.168.1.10:30053", "10.244.1.7:5353")
	web := conntrack.Flow{Protocol: ipvs.TCP, OrigSrc: netip.MustParseAddrPort("10.244.5.5:40002"),
		OrigDst: netip.MustParseAddrPort("10.96.0.10:80"), ReplySrc: netip.MustParseAddrPort("10.244.1.1:8080")}
	ct.Add(toGone, toKept, nodeGone, web)

	// Endpoint 10.244.1.7 leaves.
	src.setSlices(dns, epSlice("kube-system/dns-1", "dns", "dns", corev1.ProtocolUDP, 5353, "10.244.2.7"))
	mustIncremental(t, r, src, dns)
	if got := ct.Flows(); len(got) != 2 || got[0] != toKept || got[1] != web {
		t.Errorf("after endpoint removal: %v", got)
	}

	// Cluster IP and node port change: every flow to the old ones goes.
	ct.Add(udpFlow("10.244.5.5:40003", "10.96.0.53:53", "10.244.2.7:5353"),
		udpFlow("192.168.1.100:5001", "192.168.1.10:30053", "10.244.2.7:5353"))
	src.put(service("kube-system/dns", "10.96.0.54", port("dns", corev1.ProtocolUDP, 53, 30054)))
	mustIncremental(t, r, src, dns)
	if got := ct.Flows(); len(got) != 1 || got[0] != web {
		t.Errorf("after cluster IP and node port change: %v", got)
	}
	if n := len(ct.Calls()) - base; n != 2 {
		t.Errorf("%d Delete calls, want one per sync that removed UDP objects", n)
	}

	// A sync that removes nothing UDP does not touch conntrack.
	src.setSlices(nsn("default/web"), epSlice("default/web-1", "web", "http", "", 8080, "10.244.1.1", "10.244.1.2"))
	mustIncremental(t, r, src, nsn("default/web"))
	if n := len(ct.Calls()) - base; n != 2 {
		t.Errorf("conntrack called for a TCP change: %v", ct.Calls()[base+2:])
	}
}

// A real server whose delete failed keeps its flows (the retry cleans them).
func TestConntrackOnlyForWhatWasRemoved(t *testing.T) {
	fk := newFakeKernel()
	ct := conntrack.NewFake()
	fk.Kernel.Conntrack = ct
	r := newTestReconciler(t, fk)
	src := newSource()
	dns := nsn("kube-system/dns")
	src.put(service("kube-system/dns", "10.96.0.53", port("dns", corev1.ProtocolUDP, 53, 0)),
		epSlice("kube-system/dns-1", "dns", "dns", corev1.ProtocolUDP, 5353, "10.244.1.7", "10.244.2.7"))
	mustFull(t, r, src)
	flow := udpFlow("10.244.5.5:40000", "10.96.0.53:53", "10.244.1.7:5353")
	ct.Add(flow)

	src.setSlices(dns, epSlice("kube-system/dns-1", "dns", "dns", corev1.ProtocolUDP, 5353, "10.244.2.7"))
	fk.ipvs.FailNext(ipvs.OpDeleteRealServer, errExist)
	res, err := r.Incremental(t.Context(), src, []types.NamespacedName{dns})
	if err != nil {
		t.Fatalf("a per-object failure failed the sync: %v", err)
	}
	if len(res.Failed) == 0 {
		t.Fatal("the injected failure was not reported")
	}
	if got := ct.Flows(); len(got) != 1 {
		t.Errorf("flows of a real server still in the kernel deleted: %v", got)
	}
	mustFull(t, r, src)
	if got := ct.Flows(); len(got) != 0 {
		t.Errorf("the retry left %v", got)
	}
}

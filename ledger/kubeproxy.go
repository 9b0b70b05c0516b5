package ledger

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Taking over from kube-proxy's IPVS mode. kube-proxy keeps no ledger of its
// own, but its ipsets tell which virtual servers were its:
//   - its ClusterIP, external IP and load-balancer virtual servers sit on
//     addresses of the dummy link kube-ipvs0 and are members (ip,proto:port)
//     of KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP or KUBE-LOAD-BALANCER (KUBE-6-...
//     for IPv6); the members can lag behind the virtual servers, so the
//     dummy link is what counts (Owned) and the members are only reported;
//   - its NodePort virtual servers sit on node addresses, their ports in the
//     bitmap:port sets KUBE-NODE-PORT-TCP and -UDP (hash:ip,port
//     KUBE-NODE-PORT-SCTP-HASH for SCTP). Bitmap members carry no address and
//     our ipset adapter does not list them, so for NodePorts the evidence is
//     the set of the protocol existing: kube-proxy's IPVS mode deletes every
//     virtual server of its family it does not know (outside its
//     --ipvs-exclude-cidrs), so a NodePort-shaped virtual server on a node
//     address is its while its sets exist.

// kube-proxy's sets whose members record its virtual servers, and its
// NodePort sets per protocol (IPv4 names; see kubeProxy6).
var (
	kubeProxyRecordSets = []string{"KUBE-CLUSTER-IP", "KUBE-EXTERNAL-IP", "KUBE-LOAD-BALANCER"}
	kubeProxyNodePort   = map[ipvs.Protocol]string{
		ipvs.TCP: "KUBE-NODE-PORT-TCP", ipvs.UDP: "KUBE-NODE-PORT-UDP", ipvs.SCTP: "KUBE-NODE-PORT-SCTP-HASH",
	}
)

// kubeProxy6 is kube-proxy's IPv6 name of set name ("KUBE-6-" for "KUBE-",
// cut to the kernel's 31 characters).
func kubeProxy6(name string) string {
	n := "KUBE-6-" + strings.TrimPrefix(name, "KUBE-")
	return n[:min(len(n), 31)]
}

// KubeProxyEvidenceSets are the sets ReadKubeProxy wants listed (the ones
// whose members record virtual servers) and the ones whose presence counts
// (the NodePort ones), both families.
func KubeProxyEvidenceSets() (recording, nodePort []string) {
	for _, s := range kubeProxyRecordSets {
		recording = append(recording, s, kubeProxy6(s))
	}
	for _, s := range kubeProxyNodePort {
		nodePort = append(nodePort, s, kubeProxy6(s))
	}
	return recording, nodePort
}

// KubeProxy is what kube-proxy's IPVS mode left in the kernel that tells
// which virtual servers were its.
type KubeProxy struct {
	// Recorded are the virtual servers its recording sets hold.
	Recorded map[ipvs.Key]struct{}
	// NodePort tells, per family (4 or 6) and protocol, whether its NodePort set exists.
	NodePort map[nodePortKey]bool
}

type nodePortKey struct {
	v6    bool
	proto ipvs.Protocol
}

// ReadKubeProxy reads kube-proxy's evidence: members are the listed members
// of the recording sets (by set name), present the names of the sets that
// exist (NodePort ones included). Members that do not parse as a virtual
// server are ignored.
func ReadKubeProxy(members map[string][]ipset.Entry, present []string) KubeProxy {
	kp := KubeProxy{Recorded: map[ipvs.Key]struct{}{}, NodePort: map[nodePortKey]bool{}}
	for _, es := range members {
		for _, e := range es {
			p, err := ipvs.ParseProtocol(e.Protocol)
			if err != nil || e.Protocol == "" || !e.IP.IsValid() || e.IP2.IsValid() || e.Net.IsValid() {
				continue
			}
			kp.Recorded[ipvs.Key{Protocol: p, Address: e.IP, Port: e.Port}] = struct{}{}
		}
	}
	for p, s := range kubeProxyNodePort {
		for _, name := range present {
			switch name {
			case s:
				kp.NodePort[nodePortKey{false, p}] = true
			case kubeProxy6(s):
				kp.NodePort[nodePortKey{true, p}] = true
			}
		}
	}
	return kp
}

// String summarizes the evidence: "3 recorded, NodePort sets: tcp udp".
func (kp KubeProxy) String() string {
	var np []string
	for k, ok := range kp.NodePort {
		if ok {
			n := k.proto.String()
			if k.v6 {
				n += "6"
			}
			np = append(np, n)
		}
	}
	slices.Sort(np)
	return fmt.Sprintf("%d recorded, NodePort sets: %s", len(kp.Recorded), strings.Join(np, " "))
}

// Present tells whether kube-proxy left any evidence at all.
func (kp KubeProxy) Present() bool { return len(kp.Recorded) > 0 || len(kp.NodePort) > 0 }

// Owned tells whether virtual server k was kube-proxy's: one on the dummy
// link (onDummy) while kube-proxy's state exists, or, off the dummy link, a
// NodePort-shaped one whose protocol's NodePort set exists. Its
// KUBE-CLUSTER-IP records lag behind its virtual servers (the sandbox e2e
// found a ClusterIP virtual server whose member kube-proxy had not written
// yet), so a record is not required: kube-proxy's IPVS mode treats every
// virtual server on kube-ipvs0 as its own, and only proxies put addresses
// there.
func (kp KubeProxy) Owned(k ipvs.Key, onDummy bool) bool {
	if onDummy {
		return kp.Present()
	}
	return kp.NodePort[nodePortKey{k.Address.Is6(), k.Protocol}]
}

// TakeOver decides whether vs, a foreign virtual server (no ledger record of
// ours), is adopted in place from kube-proxy: it must have been kube-proxy's
// (kp.Owned) and be desired (want holds its key), and the kind of ledger
// member want records it with must match where it sits: a ClusterIP,
// ExternalIP or LoadBalancer member for a virtual server on the dummy link,
// a NodePort member for one on a node address. Scheduler, persistence and
// real servers may differ: the diff edits them in place afterwards. The
// result is the member to write.
func TakeOver(vs ipvs.VirtualServer, want state.Wanted, kp KubeProxy, onDummy func(netip.Addr) bool) (state.Member, bool) {
	if want.WantService(vs.Key) == nil {
		return state.Member{}, false
	}
	dummy := onDummy != nil && onDummy(vs.Address)
	if !kp.Owned(vs.Key, dummy) {
		return state.Member{}, false
	}
	for _, m := range Members(vs.Key) {
		if !want.WantsMember(m) {
			continue
		}
		if _, _, addr := Records(m); addr != dummy {
			return state.Member{}, false
		}
		return m, true
	}
	return state.Member{}, false
}

// Package desired computes what the kernel should hold, as a pure function of
// Services, EndpointSlices, node addresses and configuration, with kube-proxy
// IPVS-mode semantics. It never talks to the kernel or the API server.
package desired

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// DefaultAffinityTimeout is kube-proxy's ClientIP affinity default (3 hours).
const DefaultAffinityTimeout = 10800

// Options are the configuration the desired state depends on.
type Options struct {
	// Scheduler and SchedulerFlags are the default scheduler (a Service's
	// annotations may choose another, see SchedulerAnnotation).
	Scheduler      string
	SchedulerFlags ipvs.SchedFlags
	// NodeName selects local endpoints for the Local traffic policies and
	// node hints.
	NodeName string
	// Zone is the node's topology.kubernetes.io/zone label, for zone hints.
	Zone string
	// NodeIPs are the node's primary IPs (PrimaryNodeIPs), kube-proxy's
	// nodeIP of each family: a loadBalancerSourceRanges range holding the
	// one of its family lets node-local traffic in (127.0.0.1 or ::1 stand
	// in for a missing one, as in kube-proxy).
	NodeIPs []netip.Addr
	// ProxyName is the service.kubernetes.io/service-proxy-name value that
	// names us ("" = skip every labelled object, as kube-proxy does).
	ProxyName string
}

// ForService returns the kernel state one Service needs: its virtual
// servers (ClusterIP and NodePort), their real servers, its dummy-link
// addresses and its ipset members. nodeAddrs are the node addresses eligible
// for NodePorts (see NodePortAddresses), taken as the node's only local
// addresses too (ForServiceOn takes both). An error about the Service itself
// (a bad cluster IP, a port out of range) returns an empty State; errors
// about single endpoints or a bad scheduler annotation are returned beside
// a State that skips them (or uses the default scheduler).
func ForService(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, nodeAddrs []netip.Addr, opt Options) (state.State, error) {
	return ForServiceOn(svc, slices, NodeAddrs{NodePort: nodeAddrs}, opt)
}

// ForServiceOn is ForService with the node's local addresses beside the
// NodePort ones (see NodeAddrs).
func ForServiceOn(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, node NodeAddrs, opt Options) (state.State, error) {
	nodeAddrs := node.NodePort
	st := state.New()
	if skip(svc, opt.ProxyName) {
		return st, nil
	}
	ref := "Service " + svc.Namespace + "/" + svc.Name
	ips, err := clusterIPs(svc)
	if err != nil {
		return st, &ObjectError{Object: ref, Err: err}
	}
	if err := checkPorts(svc); err != nil {
		return st, &ObjectError{Object: ref, Err: err}
	}
	var problems []error
	sched, err := schedulerOf(svc, Scheduler{Name: opt.Scheduler, Flags: opt.SchedulerFlags})
	if err != nil {
		problems = append(problems, err)
	}
	var timeout uint32
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		timeout = DefaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			timeout = uint32(*c.ClientIP.TimeoutSeconds)
		}
	}
	vsOf := func(k ipvs.Key) ipvs.VirtualServer {
		return ipvs.VirtualServer{Key: k, Scheduler: sched.Name, Flags: sched.Flags, Timeout: timeout}
	}
	hasNodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	eps := endpointPicker{slices: slices, proxyName: opt.ProxyName, bad: map[string]struct{}{}}
	eps.checkSlicePorts()
	for _, ip := range ips {
		sets := Sets(ip)
		st.AddAddress(ip)
		for _, sp := range svc.Spec.Ports {
			proto, _ := protocolOf(sp.Protocol) // checked by checkPorts
			pol := policyOf(svc, sp, ip.Is4())
			cat := categorize(eps.pick(ip.Is4(), sp), pol, opt.NodeName, opt.Zone)
			k := ipvs.Key{Protocol: proto, Address: ip, Port: uint16(sp.Port)}
			cvs := vsOf(k)
			addVirtualServer(&st, cvs, sets.ClusterIP, sets, cat.serve(pol.internalLocal), opt.NodeName)
			addExternal(&st, portContext{svc: svc, port: sp, vs: cvs, cat: cat, pol: pol, node: node, opt: opt, bad: eps.bad})
			if !hasNodePorts || sp.NodePort == 0 {
				continue
			}
			external := cat.serve(pol.externalLocal)
			for _, a := range nodeAddrs {
				if a.Is4() != ip.Is4() {
					continue
				}
				k := ipvs.Key{Protocol: proto, Address: a, Port: uint16(sp.NodePort)}
				addVirtualServer(&st, vsOf(k), sets.NodePort, sets, external, opt.NodeName)
			}
		}
	}
	if err := eps.err(ref); err != nil {
		problems = append(problems, err)
	}
	return st, joinProblems(ref, problems)
}

// addVirtualServer adds vs, its ledger member and its real servers, and a
// hairpin member for each real server on this node: only a pod on this node
// can reach itself through the virtual server here (kube-proxy's
// KUBE-LOOP-BACK holds the local endpoints only).
func addVirtualServer(st *state.State, vs ipvs.VirtualServer, ledger string, sets SetNames, eps []endpoint, node string) {
	if st.Members.Len() == 0 {
		// The fragment's first members: room for the ledger member, the
		// hairpins and a VIP at once when they are more than a small map
		// holds (8), not a map grown step by step (the Index keeps them
		// packed; this map is a transient).
		n := 2
		for _, ep := range eps {
			if ep.nodeName != "" && ep.nodeName == node {
				n++
			}
		}
		if n > 8 {
			st.Members = state.NewMemberSet(n)
		}
	}
	st.AddMember(ledger, ledgerEntry(vs.Key))
	st.AddService(vs).RealServers.Grow(len(eps)) // eps come sorted: Set appends in place
	for _, ep := range eps {
		st.AddRealServer(vs.Key, ipvs.RealServer{
			RealServerKey: ipvs.RealServerKey{Address: ep.addr, Port: ep.port},
			Weight:        1,
			Forwarding:    ipvs.Masquerade,
		})
		if ep.nodeName != "" && ep.nodeName == node {
			st.AddMember(sets.Hairpin, ipset.Entry{IP: ep.addr, Protocol: vs.Protocol.String(), Port: ep.port, IP2: ep.addr})
		}
	}
}

// skip reports Services that get nothing: headless, ExternalName, and those
// kube-proxy's informers filter out (see ProxiedService).
func skip(svc *corev1.Service, proxyName string) bool {
	if !ProxiedService(svc, proxyName) {
		return true
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return true
	}
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// clusterIPs parses spec.clusterIPs (or spec.clusterIP), at most one per family.
func clusterIPs(svc *corev1.Service) ([]netip.Addr, error) {
	raw := svc.Spec.ClusterIPs
	if len(raw) == 0 && svc.Spec.ClusterIP != "" {
		raw = []string{svc.Spec.ClusterIP}
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("has no clusterIP (not allocated yet)")
	}
	var out []netip.Addr
	for _, s := range raw {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("clusterIP %q is not an IP address", s)
		}
		a = a.Unmap()
		if why := unusable(a); why != "" {
			return nil, fmt.Errorf("clusterIP %s is %s", a, why)
		}
		for _, b := range out {
			if b.Is4() == a.Is4() {
				return nil, fmt.Errorf("clusterIPs %v hold two addresses of one family", raw)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func checkPorts(svc *corev1.Service) error {
	for i, sp := range svc.Spec.Ports {
		name := sp.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		if sp.Port < 1 || sp.Port > 65535 {
			return fmt.Errorf("port %s: port %d is not in 1-65535", name, sp.Port)
		}
		if sp.NodePort < 0 || sp.NodePort > 65535 {
			return fmt.Errorf("port %s: nodePort %d is not in 1-65535", name, sp.NodePort)
		}
		if _, err := protocolOf(sp.Protocol); err != nil {
			return fmt.Errorf("port %s: %w", name, err)
		}
	}
	return nil
}

// ObjectError is a problem with one Kubernetes object; the object is skipped
// (in whole or in part) and everything else goes on.
type ObjectError struct {
	Object string // "Service default/web"
	Err    error
}

func (e *ObjectError) Error() string { return e.Object + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// joinProblems returns nil, or one ObjectError about ref holding every
// problem (the inner ObjectErrors' own texts without their prefix).
func joinProblems(ref string, problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		var oe *ObjectError
		if errors.As(p, &oe) {
			p = oe.Err
		}
		msgs = append(msgs, p.Error())
	}
	return &ObjectError{Object: ref, Err: errors.New(strings.Join(msgs, "; "))}
}

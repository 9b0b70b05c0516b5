package main

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// nodePortConflicts reports nodePorts claimed by two Services in the inputs,
// which the API server would refuse but hand-written files may hold; plan
// merges their real servers, so the output would be misleading unexplained.
// Services are taken in name order.
func nodePortConflicts(svcs []*corev1.Service) []string {
	type port struct {
		proto corev1.Protocol
		port  int32
	}
	svcs = slices.Clone(svcs)
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	owner := map[port]string{}
	var out []string
	for _, svc := range svcs {
		if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		name := svc.Namespace + "/" + svc.Name
		for _, sp := range svc.Spec.Ports {
			if sp.NodePort == 0 {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			k := port{proto, sp.NodePort}
			if first, ok := owner[k]; ok && first != name {
				out = append(out, fmt.Sprintf("nodePort %s/%d is claimed by both Service %s and Service %s; their real servers are merged", proto, sp.NodePort, first, name))
				continue
			}
			owner[k] = name
		}
	}
	return out
}

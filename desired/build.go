package desired

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// Input is everything the desired state of a node depends on besides Options.
type Input struct {
	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
	// NodeAddresses are the addresses eligible for NodePorts (see NodePortAddresses).
	NodeAddresses []netip.Addr
	// LocalAddresses are all the node's local addresses (see
	// LocalAddresses); NodeAddresses count as local whether listed or not.
	LocalAddresses []netip.Addr
}

// Build returns the whole desired state and one error per object that was
// skipped in whole or in part, sorted by Service, then a *Conflict per pair
// of Services that want one virtual server (it goes to the winner, as in
// the Index `run` keeps).
func Build(in Input, opt Options) (state.State, []error) {
	bySvc := GroupSlices(in.Slices)
	svcs := slices.Clone(in.Services)
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	ix := NewIndex()
	var errs []error
	for _, svc := range svcs {
		frag, err := ForServiceOn(svc, bySvc[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}], NodeAddrs{NodePort: in.NodeAddresses, Local: in.LocalAddresses}, opt)
		if err != nil {
			errs = append(errs, err)
		}
		ix.PutClaim(ClaimOf(svc), frag)
	}
	for _, c := range ix.ConflictsAll() {
		errs = append(errs, c)
	}
	return ix.All(), errs
}

// ServiceNameLabel ties an EndpointSlice to its Service.
const ServiceNameLabel = discoveryv1.LabelServiceName

// GroupSlices groups EndpointSlices by the Service named in their
// kubernetes.io/service-name label (in their own namespace); unlabelled
// slices are dropped.
func GroupSlices(in []*discoveryv1.EndpointSlice) map[types.NamespacedName][]*discoveryv1.EndpointSlice {
	out := map[types.NamespacedName][]*discoveryv1.EndpointSlice{}
	for _, sl := range in {
		name, ok := sl.Labels[ServiceNameLabel]
		if !ok || name == "" {
			continue
		}
		k := types.NamespacedName{Namespace: sl.Namespace, Name: name}
		out[k] = append(out[k], sl)
	}
	return out
}

package cleanup

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ledger"
)

// TakeOver is what a takeover from kube-proxy removes once ipvs-proxy has
// adopted what it wants (run.go's takeover, after a full sync): KubeProxy's
// plan (its chains and jumps, its sets, the dummy-link addresses no ledger
// entry of ours carries), but of the virtual servers our ledger does not
// record only those kube-proxy owned (kp.Owned: on the dummy link, or
// NodePort-shaped on a node address while its NodePort set of that protocol
// exists). Anything else foreign stays.
func TakeOver(o Observed, kp ledger.KubeProxy) Plan {
	p := KubeProxy(o)
	dummy := map[netip.Addr]bool{}
	for _, a := range o.DummyAddresses {
		dummy[a] = true
	}
	vs := p.VirtualServers[:0]
	for _, k := range p.VirtualServers {
		if kp.Owned(k, dummy[k.Address]) {
			vs = append(vs, k)
		}
	}
	p.VirtualServers = vs
	return p
}

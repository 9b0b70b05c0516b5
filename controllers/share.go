package controllers

import "github.com/ipvs-proxy/ipvs-proxy/state"

// shareDone runs after op took effect in the kernel cache: once the cached
// real servers of op's virtual server equal the desired ones (the last of a
// cold sync's adds for it), the cache uses the index's map instead of its
// own (state.State.ShareOne), so a large apply never holds two copies of
// every real server. The check costs a length comparison until the lengths
// match.
func (r *Reconciler) shareDone(op *state.Op) {
	if op.Kind != state.AddRealServer && op.Kind != state.UpdateRealServer {
		return
	}
	k := op.Service.Key
	svc, ok := r.cache.Services[k]
	if !ok {
		return
	}
	want := r.index.Service(k)
	if want == nil || len(want.RealServers) != len(svc.RealServers) {
		return
	}
	r.cache.ShareOne(k, want)
}

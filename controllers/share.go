package controllers

import "github.com/ipvs-proxy/ipvs-proxy/state"

// shareDone runs after op took effect in the kernel cache: once the cached
// real servers of op's virtual server equal the desired ones (after the
// last of a cold sync's adds for it, or of a change's adds and deletes),
// the cache uses the index's list instead of its own (state.State.ShareOne),
// so a large apply never holds two copies of every real server. The check
// costs a length comparison until the lengths match.
func (r *Reconciler) shareDone(op *state.Op) {
	switch op.Kind {
	case state.AddRealServer, state.UpdateRealServer, state.DeleteRealServer:
	default:
		return
	}
	k := op.Service.Key
	svc, ok := r.cache.Services[k]
	if !ok {
		return
	}
	want := r.index.Service(k)
	if want == nil {
		return
	}
	if n := want.RealServers.Len() - svc.RealServers.Len(); n != 0 {
		if n > 0 && op.Kind == state.AddRealServer && !r.cache.ShareFirst(k, want) {
			// Not the index's order (ShareFirst: a view of the index's
			// list that the next adds lengthen): room for the adds still
			// to come, at once, rather than append's doubling.
			svc.RealServers.Grow(n)
		}
		return
	}
	r.cache.ShareOne(k, want)
}

// shareAll shares every cached virtual server's real servers that equal the
// desired ones and are not shared yet (observe shares what it reads equal
// to the index, shareDone what an apply made equal; this catches the
// rest). Asking the index, not the sync's desired State, lets that State
// be freed before the apply.
func (r *Reconciler) shareAll() {
	for k := range r.cache.Services {
		r.cache.ShareOne(k, r.index.Service(k))
	}
}

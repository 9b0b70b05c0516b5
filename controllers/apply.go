package controllers

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/state"
)

// apply carries out p in its order and keeps the cache equal to the kernel:
// each operation that succeeds is recorded, one that fails is not. Real
// servers of a virtual server that could not be created are skipped. A
// failure is attributed to the Services that own the object and returned; the
// caller retries with a full sync.
func (r *Reconciler) apply(ctx context.Context, p state.Plan, problems map[types.NamespacedName][]string) error {
	log := logr.FromContextOrDiscard(ctx)
	var errs []error
	fail := func(k *ipvs.Key, err error) {
		errs = append(errs, err)
		if k == nil {
			return
		}
		for _, n := range r.index.Owners(*k) {
			problems[n] = append(problems[n], err.Error())
		}
	}
	change := func(op string, kv ...any) { log.V(2).Info(op, kv...) }
	c := &r.cache

	for _, m := range p.AddMembers {
		if err := r.k.Sets.Add(m.Set, m.Entry); err != nil {
			fail(nil, fmt.Errorf("add %s to ipset %s: %w", m.Entry, m.Set, err))
			continue
		}
		c.AddMember(m.Set, m.Entry)
	}
	for _, a := range p.AddAddresses {
		if err := r.k.Links.AddAddress(r.cfg.DummyInterface, a); err != nil {
			fail(nil, fmt.Errorf("add address %s to %s: %w", a, r.cfg.DummyInterface, err))
			continue
		}
		change("address added", "address", a)
		c.AddAddress(a)
	}
	failedVS := map[ipvs.Key]bool{}
	for _, vs := range p.AddServices {
		if err := r.k.IPVS.AddVirtualServer(vs); err != nil {
			failedVS[vs.Key] = true
			fail(&vs.Key, fmt.Errorf("add virtual server %s: %w", vs.Key, err))
			continue
		}
		change("virtual server added", "virtualServer", vs.String())
		c.AddService(vs)
	}
	for _, vs := range p.UpdateServices {
		if err := r.k.IPVS.UpdateVirtualServer(vs); err != nil {
			fail(&vs.Key, fmt.Errorf("update virtual server %s: %w", vs.Key, err))
			continue
		}
		change("virtual server updated", "virtualServer", vs.String())
		c.AddService(vs)
	}
	for _, op := range p.AddRealServers {
		if failedVS[op.Service] {
			continue
		}
		if err := r.k.IPVS.AddRealServer(op.Service, op.RealServer); err != nil {
			fail(&op.Service, fmt.Errorf("add real server %s to %s: %w", op.RealServer.RealServerKey, op.Service, err))
			continue
		}
		change("real server added", "virtualServer", op.Service.String(), "realServer", op.RealServer.RealServerKey.String())
		c.AddRealServer(op.Service, op.RealServer)
	}
	for _, op := range p.UpdateRealServers {
		if err := r.k.IPVS.UpdateRealServer(op.Service, op.RealServer); err != nil {
			fail(&op.Service, fmt.Errorf("update real server %s of %s: %w", op.RealServer.RealServerKey, op.Service, err))
			continue
		}
		change("real server updated", "virtualServer", op.Service.String(), "realServer", op.RealServer.Line(op.Service))
		c.AddRealServer(op.Service, op.RealServer)
	}
	for _, op := range p.DeleteRealServers {
		if err := r.k.IPVS.DeleteRealServer(op.Service, op.RealServer.RealServerKey); err != nil && !missing(err) {
			fail(&op.Service, fmt.Errorf("delete real server %s of %s: %w", op.RealServer.RealServerKey.String(), op.Service, err))
			continue
		}
		change("real server deleted", "virtualServer", op.Service.String(), "realServer", op.RealServer.RealServerKey.String())
		if svc := c.Services[op.Service]; svc != nil {
			delete(svc.RealServers, op.RealServer.RealServerKey)
		}
	}
	for _, k := range p.DeleteServices {
		if err := r.k.IPVS.DeleteVirtualServer(k); err != nil && !missing(err) {
			fail(nil, fmt.Errorf("delete virtual server %s: %w", k, err))
			continue
		}
		change("virtual server deleted", "virtualServer", k.String())
		delete(c.Services, k)
	}
	for _, a := range p.DeleteAddresses {
		if err := r.k.Links.DelAddress(r.cfg.DummyInterface, a); err != nil {
			fail(nil, fmt.Errorf("delete address %s from %s: %w", a, r.cfg.DummyInterface, err))
			continue
		}
		change("address deleted", "address", a)
		delete(c.Addresses, a)
	}
	// Ledger entries go last, and only when what they record is gone.
	for _, m := range p.DeleteMembers {
		if err := r.k.Sets.Del(m.Set, m.Entry); err != nil {
			fail(nil, fmt.Errorf("delete %s from ipset %s: %w", m.Entry, m.Set, err))
			continue
		}
		delete(c.Members, m)
	}
	return errors.Join(errs...)
}

// missing reports the kernel's "no such object" answers, which a delete treats as done.
func missing(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH)
}

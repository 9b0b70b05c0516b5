package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
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

	// An object is created only once the ledger records it, or it would not
	// be ours after a restart (and would be left forever as foreign).
	addedMembers := map[state.Member]bool{}
	failedMembers := map[state.Member]bool{}
	unrecordedAddrs := map[netip.Addr]bool{}
	for _, m := range p.AddMembers {
		if err := r.k.Sets.Add(m.Set, m.Entry); err != nil {
			failedMembers[m] = true
			if desired.RecordsAddress(m) {
				unrecordedAddrs[m.Entry.IP] = true
			}
			fail(nil, fmt.Errorf("add %s to ipset %s: %w", m.Entry, m.Set, err))
			continue
		}
		addedMembers[m] = true
		c.AddMember(m.Set, m.Entry)
	}
	addedAddrs := map[netip.Addr]bool{}
	for _, a := range p.AddAddresses {
		if unrecordedAddrs[a] {
			fail(nil, fmt.Errorf("add address %s to %s: skipped, its ownership ledger entry could not be added", a, r.cfg.DummyInterface))
			continue
		}
		if err := r.k.Links.AddAddress(r.cfg.DummyInterface, a); err != nil {
			fail(nil, fmt.Errorf("add address %s to %s: %w", a, r.cfg.DummyInterface, err))
			continue
		}
		change("address added", "address", a)
		c.AddAddress(a)
		addedAddrs[a] = true
	}
	failedVS := map[ipvs.Key]bool{}
	for _, vs := range p.AddServices {
		if len(failedMembers) > 0 && slices.ContainsFunc(desired.LedgerMembers(vs.Key), func(m state.Member) bool { return failedMembers[m] }) {
			failedVS[vs.Key] = true
			fail(&vs.Key, fmt.Errorf("add virtual server %s: skipped, its ownership ledger entry could not be added", vs.Key))
			continue
		}
		if err := r.k.IPVS.AddVirtualServer(vs); err != nil {
			failedVS[vs.Key] = true
			fail(&vs.Key, fmt.Errorf("add virtual server %s: %w", vs.Key, err))
			if errors.Is(err, syscall.EEXIST) {
				// Not ours (the cache knows ours): someone created it since
				// the last full sync. Take back the ledger entry just
				// written, or the next full sync would adopt it.
				r.disown(vs.Key, addedMembers, addedAddrs, fail)
			}
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
	keptVS := map[ipvs.Key]bool{}
	for _, k := range p.DeleteServices {
		if err := r.k.IPVS.DeleteVirtualServer(k); err != nil && !missing(err) {
			keptVS[k] = true
			fail(nil, fmt.Errorf("delete virtual server %s: %w", k, err))
			continue
		}
		change("virtual server deleted", "virtualServer", k.String())
		delete(c.Services, k)
	}
	keptAddrs := map[netip.Addr]bool{}
	for _, a := range p.DeleteAddresses {
		if err := r.k.Links.DelAddress(r.cfg.DummyInterface, a); err != nil {
			keptAddrs[a] = true
			fail(nil, fmt.Errorf("delete address %s from %s: %w", a, r.cfg.DummyInterface, err))
			continue
		}
		change("address deleted", "address", a)
		delete(c.Addresses, a)
	}
	// Ledger entries go last, and only when what they record is gone: a
	// virtual server or address that could not be deleted keeps its entries,
	// so that the retry (or a restarted process) still knows it is ours.
	for _, m := range p.DeleteMembers {
		if (len(keptVS) > 0 || len(keptAddrs) > 0) && recordsKept(m, keptVS, keptAddrs) {
			continue
		}
		if err := r.k.Sets.Del(m.Set, m.Entry); err != nil {
			fail(nil, fmt.Errorf("delete %s from ipset %s: %w", m.Entry, m.Set, err))
			continue
		}
		delete(c.Members, m)
	}
	return errors.Join(errs...)
}

// recordsKept tells whether ledger member m records a virtual server in
// keptVS or (as a ClusterIP, external-IP or load-balancer entry) an address
// in keptAddrs.
func recordsKept(m state.Member, keptVS map[ipvs.Key]bool, keptAddrs map[netip.Addr]bool) bool {
	if !desired.RecordsService(m) {
		return false
	}
	if desired.RecordsAddress(m) && keptAddrs[m.Entry.IP] {
		return true
	}
	p, err := ipvs.ParseProtocol(m.Entry.Protocol)
	return err == nil && keptVS[ipvs.Key{Protocol: p, Address: m.Entry.IP, Port: m.Entry.Port}]
}

// disown undoes what this apply did to claim virtual server k, which turned
// out to exist already and not be ours: the ledger entries it added for k, and
// k's address if it added that and no ClusterIP entry of ours carries it any
// more. k counts as foreign until the next full sync.
func (r *Reconciler) disown(k ipvs.Key, addedMembers map[state.Member]bool, addedAddrs map[netip.Addr]bool, fail func(*ipvs.Key, error)) {
	c := &r.cache
	r.foreign[k] = struct{}{}
	for _, m := range desired.LedgerMembers(k) {
		if !addedMembers[m] {
			continue
		}
		if err := r.k.Sets.Del(m.Set, m.Entry); err != nil {
			fail(nil, fmt.Errorf("delete %s from ipset %s: %w", m.Entry, m.Set, err))
			continue
		}
		delete(c.Members, m)
	}
	a := k.Address
	if !addedAddrs[a] {
		return
	}
	for m := range c.Members {
		if desired.RecordsAddress(m) && m.Entry.IP == a {
			return
		}
	}
	if err := r.k.Links.DelAddress(r.cfg.DummyInterface, a); err != nil {
		fail(nil, fmt.Errorf("delete address %s from %s: %w", a, r.cfg.DummyInterface, err))
		return
	}
	delete(c.Addresses, a)
	for _, m := range desired.AddressMembers(a) {
		if !addedMembers[m] {
			continue
		}
		if err := r.k.Sets.Del(m.Set, m.Entry); err != nil {
			fail(nil, fmt.Errorf("delete %s from ipset %s: %w", m.Entry, m.Set, err))
			continue
		}
		delete(c.Members, m)
	}
}

// missing reports the kernel's "no such object" answers, which a delete treats as done.
func missing(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH)
}

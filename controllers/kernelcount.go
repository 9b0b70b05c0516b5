package controllers

import (
	"net/netip"

	"github.com/ipvs-proxy/ipvs-proxy/ipset"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/metrics"
	"github.com/ipvs-proxy/ipvs-proxy/netif"
	"github.com/ipvs-proxy/ipvs-proxy/rules"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// countKernel wraps every adapter of k so that each call is counted in
// ipvs_proxy_kernel_operations_total{kind,result}. The kinds are
// "<adapter>_<method>" in snake case, e.g. ipvs_add_virtual_server.
// What the adapters offer beyond their interface (IPVS timeouts) stays
// reachable, and adapters that are not counted (conntrack) are kept.
func countKernel(k Kernel, m *metrics.Metrics) Kernel {
	var iv ipvs.Interface = countedIPVS{k.IPVS, m}
	if tc, ok := k.IPVS.(ipvs.TimeoutConfig); ok {
		iv = countedIPVSTimeouts{countedIPVS{k.IPVS, m}, tc}
	}
	return Kernel{
		IPVS:      iv,
		Sets:      countedSets{k.Sets, m},
		Links:     countedLinks{k.Links, m},
		Rules:     countedRules{k.Rules, m},
		Sysctls:   countedSysctls{k.Sysctls, m},
		Conntrack: k.Conntrack,
	}
}

type countedIPVS struct {
	ipvs.Interface
	m *metrics.Metrics
}

// countedIPVSTimeouts is countedIPVS over an adapter that also sets IPVS's
// timeouts (the netlink one does).
type countedIPVSTimeouts struct {
	countedIPVS
	tc ipvs.TimeoutConfig
}

func (c countedIPVSTimeouts) Timeouts() (ipvs.Timeouts, error) {
	t, err := c.tc.Timeouts()
	c.m.KernelOp("ipvs_timeouts", err)
	return t, err
}

func (c countedIPVSTimeouts) SetTimeouts(t ipvs.Timeouts) error {
	err := c.tc.SetTimeouts(t)
	c.m.KernelOp("ipvs_set_timeouts", err)
	return err
}

func (c countedIPVS) Dump() ([]ipvs.Service, error) {
	s, err := c.Interface.Dump()
	c.m.KernelOp("ipvs_dump", err)
	return s, err
}

func (c countedIPVS) AddVirtualServer(vs ipvs.VirtualServer) error {
	err := c.Interface.AddVirtualServer(vs)
	c.m.KernelOp("ipvs_add_virtual_server", err)
	return err
}

func (c countedIPVS) UpdateVirtualServer(vs ipvs.VirtualServer) error {
	err := c.Interface.UpdateVirtualServer(vs)
	c.m.KernelOp("ipvs_update_virtual_server", err)
	return err
}

func (c countedIPVS) DeleteVirtualServer(k ipvs.Key) error {
	err := c.Interface.DeleteVirtualServer(k)
	c.m.KernelOp("ipvs_delete_virtual_server", err)
	return err
}

func (c countedIPVS) AddRealServer(k ipvs.Key, rs ipvs.RealServer) error {
	err := c.Interface.AddRealServer(k, rs)
	c.m.KernelOp("ipvs_add_real_server", err)
	return err
}

func (c countedIPVS) UpdateRealServer(k ipvs.Key, rs ipvs.RealServer) error {
	err := c.Interface.UpdateRealServer(k, rs)
	c.m.KernelOp("ipvs_update_real_server", err)
	return err
}

func (c countedIPVS) DeleteRealServer(k ipvs.Key, rk ipvs.RealServerKey) error {
	err := c.Interface.DeleteRealServer(k, rk)
	c.m.KernelOp("ipvs_delete_real_server", err)
	return err
}

type countedSets struct {
	ipset.Interface
	m *metrics.Metrics
}

func (c countedSets) Ensure(s ipset.Set) error {
	err := c.Interface.Ensure(s)
	c.m.KernelOp("ipset_ensure", err)
	return err
}

func (c countedSets) List(name string) ([]ipset.Entry, error) {
	es, err := c.Interface.List(name)
	c.m.KernelOp("ipset_list", err)
	return es, err
}

func (c countedSets) Add(name string, e ipset.Entry) error {
	err := c.Interface.Add(name, e)
	c.m.KernelOp("ipset_add", err)
	return err
}

func (c countedSets) Del(name string, e ipset.Entry) error {
	err := c.Interface.Del(name, e)
	c.m.KernelOp("ipset_del", err)
	return err
}

func (c countedSets) Destroy(name string) error {
	err := c.Interface.Destroy(name)
	c.m.KernelOp("ipset_destroy", err)
	return err
}

type countedLinks struct {
	netif.Interface
	m *metrics.Metrics
}

func (c countedLinks) EnsureDummy(name string) error {
	err := c.Interface.EnsureDummy(name)
	c.m.KernelOp("link_ensure_dummy", err)
	return err
}

func (c countedLinks) Addresses(link string) ([]netip.Addr, error) {
	as, err := c.Interface.Addresses(link)
	c.m.KernelOp("link_list_addresses", err)
	return as, err
}

func (c countedLinks) AddAddress(link string, a netip.Addr) error {
	err := c.Interface.AddAddress(link, a)
	c.m.KernelOp("link_add_address", err)
	return err
}

func (c countedLinks) DelAddress(link string, a netip.Addr) error {
	err := c.Interface.DelAddress(link, a)
	c.m.KernelOp("link_delete_address", err)
	return err
}

func (c countedLinks) LocalAddresses(except string) ([]netif.Address, error) {
	as, err := c.Interface.LocalAddresses(except)
	c.m.KernelOp("link_list_local_addresses", err)
	return as, err
}

type countedRules struct {
	rules.Interface
	m *metrics.Metrics
}

func (c countedRules) Apply(rs rules.Ruleset) error {
	err := c.Interface.Apply(rs)
	c.m.KernelOp("iptables_restore", err)
	return err
}

func (c countedRules) Dump(f rules.Family) (rules.Ruleset, error) {
	rs, err := c.Interface.Dump(f)
	c.m.KernelOp("iptables_save", err)
	return rs, err
}

type countedSysctls struct {
	sysctl.Interface
	m *metrics.Metrics
}

func (c countedSysctls) Set(name, value string) error {
	err := c.Interface.Set(name, value)
	c.m.KernelOp("sysctl_set", err)
	return err
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
	"github.com/ipvs-proxy/ipvs-proxy/sysctl"
)

// ensureHostSettings writes the sysctls and IPVS timeouts that differ from
// what the configuration asks (see sysctl.Required), logs each change, and
// on the first call logs the decisions and the values in force. Run on every
// full sync, so drift is repaired; a no-op when nothing differs.
func (r *Reconciler) ensureHostSettings(ctx context.Context, ipv6 bool) error {
	log := logr.FromContextOrDiscard(ctx)
	first := !r.hostReported
	r.hostReported = true
	release, err := r.k.Sysctls.Get("kernel.osrelease")
	if err != nil {
		release = ""
	}
	wanted, notes := sysctl.Required(sysctl.Options{
		StrictARP:      r.cfg.StrictARP,
		IPv6Forwarding: r.cfg.IPv6Forwarding && ipv6,
		Kernel:         release,
	})
	var errs []error
	changed, err := sysctl.Ensure(r.k.Sysctls, wanted)
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range changed {
		log.Info("host setting changed", "sysctl", c.Name, "from", c.From, "to", c.To)
	}
	timeouts, err := r.ensureTimeouts(log)
	if err != nil {
		errs = append(errs, err)
	}
	if first {
		kv := []any{"strictARP", r.cfg.StrictARP, "ipv6Forwarding", r.cfg.IPv6Forwarding && ipv6, "notes", notes}
		for _, w := range wanted {
			kv = append(kv, w.Name, w.Value)
		}
		if timeouts != nil {
			kv = append(kv, "ipvsTimeouts", fmt.Sprintf("tcp=%s tcpfin=%s udp=%s", timeouts.TCP, timeouts.TCPFin, timeouts.UDP))
		}
		if r.cfg.IPv6Forwarding && !ipv6 {
			kv = append(kv, "ipv6ForwardingSkipped", "the node has no IPv6 address")
		}
		log.Info("host settings", kv...)
	}
	return errors.Join(errs...)
}

// ensureTimeouts sets the configured IPVS timeouts that differ (a zero one
// is left as the kernel has it) and returns the timeouts in force; nil when
// the IPVS adapter cannot read them.
func (r *Reconciler) ensureTimeouts(log logr.Logger) (*ipvs.Timeouts, error) {
	tc, ok := r.k.IPVS.(ipvs.TimeoutConfig)
	if !ok {
		return nil, nil
	}
	want := ipvs.Timeouts{TCP: r.cfg.IPVSTCPTimeout, TCPFin: r.cfg.IPVSTCPFinTimeout, UDP: r.cfg.IPVSUDPTimeout}
	have, err := tc.Timeouts()
	if err != nil {
		return nil, fmt.Errorf("ipvs timeouts: %w", err)
	}
	diff, changed := have.Want(want)
	if !changed {
		return &have, nil
	}
	if err := tc.SetTimeouts(diff); err != nil {
		return &have, fmt.Errorf("ipvs timeouts: %w", err)
	}
	for _, c := range []struct {
		name     string
		from, to time.Duration
	}{{"tcp", have.TCP, diff.TCP}, {"tcpfin", have.TCPFin, diff.TCPFin}, {"udp", have.UDP, diff.UDP}} {
		if c.to != 0 {
			log.Info("host setting changed", "ipvsTimeout", c.name, "from", c.from, "to", c.to)
		}
	}
	now := have
	if diff.TCP != 0 {
		now.TCP = diff.TCP
	}
	if diff.TCPFin != 0 {
		now.TCPFin = diff.TCPFin
	}
	if diff.UDP != 0 {
		now.UDP = diff.UDP
	}
	return &now, nil
}

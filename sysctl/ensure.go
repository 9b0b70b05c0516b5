package sysctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Setting is a parameter and a value.
type Setting struct{ Name, Value string }

// Options choose the optional settings of Required.
type Options struct {
	// StrictARP: arp_ignore=1 and arp_announce=2 on all interfaces.
	StrictARP bool
	// IPv6Forwarding: net.ipv6.conf.all.forwarding=1 (opt-in: see Required).
	IPv6Forwarding bool
	// Kernel is the kernel release (kernel.osrelease, "6.1.0-18-amd64"),
	// which decides conn_reuse_mode; empty when unknown.
	Kernel string
}

// Required returns what ipvs-proxy sets, as kube-proxy's IPVS mode does:
// IPVS keeps conntrack entries (needed for masquerade), drops connections to
// removed real servers and expires their persistence templates, the node
// forwards IPv4 packets; conn_reuse_mode=0 on kernels 4.1 to 5.8 (see
// ConnReuseMode); with StrictARP, arp_ignore=1 and arp_announce=2. The IPVS
// parameters live under net.ipv4.vs for both families.
//
// IPv6 forwarding is not set unless asked for: kube-proxy leaves it to the
// CNI, and net.ipv6.conf.all.forwarding=1 makes every interface with
// accept_ra=1 ignore router advertisements, so a node that takes its
// default route by SLAAC loses it. Notes say what was decided and why, for
// the log.
func Required(o Options) (s []Setting, notes []string) {
	s = []Setting{
		{"net.ipv4.vs.conntrack", "1"},
	}
	if set, note := ConnReuseMode(o.Kernel); set {
		s = append(s, Setting{"net.ipv4.vs.conn_reuse_mode", "0"})
		notes = append(notes, note)
	} else {
		notes = append(notes, note)
	}
	s = append(s,
		Setting{"net.ipv4.vs.expire_nodest_conn", "1"},
		Setting{"net.ipv4.vs.expire_quiescent_template", "1"},
		Setting{"net.ipv4.ip_forward", "1"},
	)
	if o.StrictARP {
		s = append(s,
			Setting{"net.ipv4.conf.all.arp_ignore", "1"},
			Setting{"net.ipv4.conf.all.arp_announce", "2"},
		)
	}
	if o.IPv6Forwarding {
		s = append(s, Setting{"net.ipv6.conf.all.forwarding", "1"})
		notes = append(notes, "net.ipv6.conf.all.forwarding=1 (ipv6Forwarding): interfaces with accept_ra=1 now ignore router advertisements; set accept_ra=2 where the node needs them")
	}
	return s, notes
}

// ConnReuseMode decides net.ipv4.vs.conn_reuse_mode from the kernel release
// as kube-proxy does: before 4.1 it does not exist; from 5.9 the kernel's
// default (1) no longer stalls reused connections, so it is left as it is;
// in between it is set to 0. An unparsable release leaves it alone.
func ConnReuseMode(release string) (set bool, note string) {
	major, minor, ok := kernelVersion(release)
	switch {
	case !ok:
		return false, fmt.Sprintf("conn_reuse_mode left as is: kernel release %q not understood", release)
	case major < 4 || major == 4 && minor < 1:
		return false, fmt.Sprintf("conn_reuse_mode not set: kernel %s is older than 4.1", release)
	case major > 5 || major == 5 && minor >= 9:
		return false, fmt.Sprintf("conn_reuse_mode left as is: kernel %s is 5.9 or newer", release)
	}
	return true, fmt.Sprintf("conn_reuse_mode=0: kernel %s is before 5.9", release)
}

// kernelVersion reads "6.1.0-18-amd64" as 6, 1.
func kernelVersion(release string) (major, minor int, ok bool) {
	f := strings.FieldsFunc(release, func(r rune) bool { return r == '.' || r == '-' || r == '+' || r == '_' })
	if len(f) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(f[0])
	minor, err2 := strconv.Atoi(f[1])
	return major, minor, err1 == nil && err2 == nil
}

// Change is a parameter Ensure changed, with its value before.
type Change struct{ Name, From, To string }

// Ensure sets each wanted parameter whose value differs and returns what it
// changed, in order. It goes on after a failure and returns all errors
// joined, with the changes that were made.
func Ensure(s Interface, wanted []Setting) ([]Change, error) {
	var changed []Change
	var errs []error
	for _, w := range wanted {
		cur, err := s.Get(w.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur == strings.TrimSpace(w.Value) {
			continue
		}
		if err := s.Set(w.Name, w.Value); err != nil {
			errs = append(errs, err)
			continue
		}
		changed = append(changed, Change{Name: w.Name, From: cur, To: w.Value})
	}
	return changed, errors.Join(errs...)
}

package sysctl

import (
	"errors"
	"strings"
)

// Setting is a parameter and a value.
type Setting struct{ Name, Value string }

// Required returns what ipvs-proxy needs: IPVS keeps conntrack entries
// (needed for masquerade), drops connections to removed real servers and
// expires their persistence templates, and the node forwards packets; with
// ipv6 also IPv6 forwarding. The IPVS parameters live under net.ipv4.vs for
// both families.
func Required(ipv6 bool) []Setting {
	s := []Setting{
		{"net.ipv4.vs.conntrack", "1"},
		{"net.ipv4.vs.expire_nodest_conn", "1"},
		{"net.ipv4.vs.expire_quiescent_template", "1"},
		{"net.ipv4.ip_forward", "1"},
	}
	if ipv6 {
		s = append(s, Setting{"net.ipv6.conf.all.forwarding", "1"})
	}
	return s
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

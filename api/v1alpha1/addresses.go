package v1alpha1

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkInterfaceName applies the kernel's rules for a link name
// (dev_valid_name): 1 to 15 bytes, not "." or "..", no '/', ':' or white space.
func checkInterfaceName(name string) error {
	switch {
	case name == "" || len(name) > 15:
		return fmt.Errorf("%q must be 1 to 15 characters", name)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a link name", name)
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("%q holds '/' or ':', which link names cannot", name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return fmt.Errorf("%q holds white space or a character that is not printable ASCII", name)
		}
	}
	return nil
}

// checkHostPort accepts "HOST:PORT" where HOST is empty (every address), an
// IP address or a host name, and PORT a number in 1-65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (an IPv6 address goes in brackets: [::1]:10256)", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: port %q is not a number in 1-65535", s, port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !isHostName(host) {
		return fmt.Errorf("%q: host %q is neither an IP address nor a host name", s, host)
	}
	return nil
}

// isHostName is a loose DNS name check: dot-separated labels of letters,
// digits and '-', not starting or ending with '-', the last not all digits.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false // an all-numeric last label: a mistyped IP address
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

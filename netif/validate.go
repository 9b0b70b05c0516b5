package netif

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxLinkNameLen is the longest link name the kernel accepts (IFNAMSIZ 16
// including the terminating NUL).
const MaxLinkNameLen = 15

// validateLinkName applies the kernel's dev_valid_name.
func checkLinkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("invalid link name %q", name)
	case len(name) > MaxLinkNameLen:
		return fmt.Errorf("link name %q is %d bytes long, the limit is %d", name, len(name), MaxLinkNameLen)
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return fmt.Errorf("link name %q contains '/', ':' or white space", name)
	}
	return nil
}

// validateAddr refuses what cannot be bound as a /32 or /128: an invalid or
// zoned address, and an IPv4-mapped IPv6 one (netlink would bind it as IPv4).
func checkAddr(addr netip.Addr) error {
	switch {
	case !addr.IsValid():
		return fmt.Errorf("invalid address")
	case addr.Zone() != "":
		return fmt.Errorf("address %s has a zone", addr)
	case addr.Is4In6():
		return fmt.Errorf("address %s is IPv4-mapped IPv6", addr)
	}
	return nil
}

// validateLinkName and validateAddr mark their refusals as the adapter's
// verdict on a request it does not send (see verdict).
func validateLinkName(name string) error { return invalid(checkLinkName(name)) }
func validateAddr(addr netip.Addr) error { return invalid(checkAddr(addr)) }

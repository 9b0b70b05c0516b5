// Package netif is the network-interface adapter: the dummy link that holds
// the service addresses, its addresses, and the node's local addresses, over
// netlink (github.com/vishvananda/netlink), with an in-memory Fake.
package netif

import "net/netip"

// Address is a local address and the link that carries it.
type Address struct {
	Link string
	Addr netip.Addr
}

// Interface is everything the reconciler needs from links and addresses.
type Interface interface {
	// EnsureDummy creates the dummy link if missing and sets it up; an existing
	// link of that name is kept as it is.
	EnsureDummy(name string) error
	// Addresses lists the addresses on link (host-scoped /32 or /128 as we add them).
	Addresses(link string) ([]netip.Addr, error)
	// AddAddress binds addr to link (as /32 or /128); an existing one is not an error.
	AddAddress(link string, addr netip.Addr) error
	// DelAddress removes addr from link; a missing one is not an error.
	DelAddress(link string, addr netip.Addr) error
	// LocalAddresses lists every address on every link of this network
	// namespace but except (the dummy link; the reconciler filters loopback
	// and link-local).
	LocalAddresses(except string) ([]Address, error)
}

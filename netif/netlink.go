//go:build linux

package netif

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Kernel is the Interface over rtnetlink, in the network namespace New was
// called in, with one NETLINK_ROUTE socket for all requests (a netlink.Handle;
// the library's package-level functions open a socket per request). It is
// safe for concurrent use.
type Kernel struct {
	h      *netlink.Handle
	strict *nl.SocketHandle // addrsOf's (netlink_dump.go)
	links  linkIndexes      // linkcache.go
	// bs is Batch's socket (netlink_batch.go), used under bmu.
	bmu sync.Mutex
	bs  *batchSocket
}

var _ Interface = (*Kernel)(nil)

// New opens the netlink socket in the calling thread's network namespace.
func New() (*Kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netif: open rtnetlink socket: %w", err)
	}
	strict, err := openStrictSocket()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netif: open rtnetlink socket: %w", err)
	}
	bs, err := openBatchSocket()
	if err != nil {
		h.Close()
		strict.Close()
		return nil, fmt.Errorf("netif: %w", err)
	}
	return &Kernel{h: h, strict: strict, bs: bs}, nil
}

// Close releases the sockets.
func (k *Kernel) Close() {
	k.h.Close()
	k.strict.Close()
	k.bmu.Lock()
	k.bs.Close()
	k.bs = nil
	k.bmu.Unlock()
}

// dumpRetries bounds the retries of a dump the kernel reports as interrupted
// (the table changed while it was being dumped).
const dumpRetries = 5

// link looks a link up by name; a missing one is an error wrapping ENODEV.
func (k *Kernel) link(name string) (netlink.Link, error) {
	if err := validateLinkName(name); err != nil {
		return nil, err
	}
	l, err := k.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("link %s: %w", name, unix.ENODEV)
		}
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	return l, nil
}

// EnsureDummy creates the dummy link if it is missing and sets it up. An
// existing dummy link is kept (set up if it is down); a link of another type
// is an ErrConflict.
func (k *Kernel) EnsureDummy(name string) error {
	l, err := k.link(name)
	switch {
	case err == nil:
		if l.Type() != "dummy" {
			return fmt.Errorf("netif: link %s exists with type %s, want dummy: %w", name, l.Type(), ErrConflict)
		}
		if l.Attrs().Flags&net.FlagUp != 0 {
			return nil
		}
	case errors.Is(err, unix.ENODEV):
		l = &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := k.h.LinkAdd(l); err != nil {
			return fmt.Errorf("netif: create dummy link %s: %w", name, err)
		}
	default:
		return fmt.Errorf("netif: %w", err)
	}
	if err := k.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("netif: set dummy link %s up: %w", name, err)
	}
	return nil
}

// Addresses lists every IPv4 and IPv6 address of the link, sorted. This
// includes the fe80:: address the kernel gives a link when it comes up.
func (k *Kernel) Addresses(link string) ([]netip.Addr, error) {
	l, err := k.link(link)
	if err != nil {
		return nil, fmt.Errorf("netif: addresses: %w", err)
	}
	addrs, err := k.addrList(l)
	if err != nil {
		return nil, fmt.Errorf("netif: addresses of %s: %w", link, err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := fromNetlink(a); ok {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// AddAddress binds addr to link as a /32 or /128 (IPv6 with IFA_F_NODAD, so
// that it is usable at once), replacing an existing binding of it: one
// already there is not an error. The kernel adds the address's local route.
func (k *Kernel) AddAddress(link string, addr netip.Addr) error {
	if err := validateAddr(addr); err != nil {
		return fmt.Errorf("netif: add address to %s: %w", link, err)
	}
	lookup, err := k.withLink(link, func(l netlink.Link) error {
		return k.h.AddrReplace(l, toNetlink(addr, addr.BitLen()))
	})
	if lookup {
		return fmt.Errorf("netif: add address %s: %w", addr, err)
	}
	if err != nil {
		return fmt.Errorf("netif: add address %s to %s: %w", addr, link, err)
	}
	return nil
}

// DelAddress removes addr from link. It deletes the /32 or /128 first; if
// there is none (EADDRNOTAVAIL) it deletes the address with whatever prefix
// it was bound, so that what Addresses lists can always be removed. A
// missing address is not an error.
func (k *Kernel) DelAddress(link string, addr netip.Addr) error {
	if err := validateAddr(addr); err != nil {
		return fmt.Errorf("netif: delete address from %s: %w", link, err)
	}
	var l netlink.Link
	lookup, err := k.withLink(link, func(cl netlink.Link) error {
		l = cl
		return k.h.AddrDel(cl, toNetlink(addr, addr.BitLen()))
	})
	if lookup {
		return fmt.Errorf("netif: delete address %s: %w", addr, err)
	}
	if !errors.Is(err, unix.EADDRNOTAVAIL) {
		if err != nil {
			return fmt.Errorf("netif: delete address %s from %s: %w", addr, link, err)
		}
		return nil
	}
	return k.delOtherPrefixes(l, link, addr)
}

// delOtherPrefixes deletes addr from link l with whatever prefix it is
// bound (the kernel found no /32 or /128 of it); DelAddress's second step.
func (k *Kernel) delOtherPrefixes(l netlink.Link, link string, addr netip.Addr) error {
	addrs, err := k.addrList(l)
	if err != nil {
		return fmt.Errorf("netif: delete address %s from %s: %w", addr, link, err)
	}
	for _, a := range addrs {
		if ip, ok := fromNetlink(a); ok && ip == addr {
			ones, _ := a.Mask.Size()
			err := k.h.AddrDel(l, toNetlink(addr, ones))
			if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return fmt.Errorf("netif: delete address %s/%d from %s: %w", addr, ones, link, err)
			}
		}
	}
	return nil
}

// LocalAddresses dumps the links, then the addresses of each link but
// except, sorted by link name and address. Each link's addresses are a dump
// of their own, filtered by the kernel (see addrsOf), so the ClusterIPs on
// the dummy link (tens of thousands in a large cluster) are neither sent nor
// parsed.
func (k *Kernel) LocalAddresses(except string) ([]Address, error) {
	var links []netlink.Link
	err := retryDump(func() (err error) {
		links, err = k.h.LinkList()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netif: local addresses: links: %w", err)
	}
	var out []Address
	for _, l := range links {
		a := l.Attrs()
		if a.Name == except {
			continue
		}
		var addrs []netip.Addr
		err := retryDump(func() (err error) {
			addrs, err = k.addrsOf(a.Index)
			return err
		})
		if errors.Is(err, unix.ENODEV) {
			continue // the link went away in between
		}
		if err != nil {
			return nil, fmt.Errorf("netif: local addresses of %s: %w", a.Name, err)
		}
		for _, ip := range addrs {
			out = append(out, Address{Link: a.Name, Addr: ip})
		}
	}
	slices.SortFunc(out, func(a, b Address) int {
		return cmp.Or(cmp.Compare(a.Link, b.Link), a.Addr.Compare(b.Addr))
	})
	return out, nil
}

// addrList dumps the IPv4 and IPv6 addresses of l, or of every link if l is nil.
func (k *Kernel) addrList(l netlink.Link) ([]netlink.Addr, error) {
	var addrs []netlink.Addr
	err := retryDump(func() (err error) {
		addrs, err = k.h.AddrList(l, netlink.FAMILY_ALL)
		return err
	})
	return addrs, err
}

// retryDump runs a dump again while the kernel reports it interrupted.
func retryDump(dump func() error) error {
	var err error
	for range dumpRetries {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

func toNetlink(addr netip.Addr, ones int) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(ones, addr.BitLen())}}
	if addr.Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// fromNetlink returns the address of a, false for families other than IPv4
// and IPv6.
func fromNetlink(a netlink.Addr) (netip.Addr, bool) {
	if a.IPNet == nil {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Addr{}, false
	}
	return ip, true // 4 bytes for IPv4, 16 for IPv6: no unmapping
}

//go:build linux

package ipset

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Kernel is the Interface over netlink, in the network namespace New was
// called in. It holds one NETLINK_NETFILTER socket for all requests: the
// library's package-level functions open and close a socket per request, a
// Handle keeps one (and serialises requests on it, so a Kernel is safe for
// concurrent use). A second socket on the same terms carries the requests
// the library cannot make (netlink_msg.go).
type Kernel struct {
	h    *netlink.Handle
	sock *nl.SocketHandle
	// bs is Batch's socket (netlink_batch.go), used under bmu.
	bmu sync.Mutex
	bs  *batchSocket
}

var _ Interface = (*Kernel)(nil)

// New opens the netlink socket in the calling thread's network namespace.
func New() (*Kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("ipset: open netfilter netlink socket: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_NETFILTER)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("ipset: open netfilter netlink socket: %w", err)
	}
	bs, err := openBatchSocket()
	if err != nil {
		h.Close()
		s.Close()
		return nil, fmt.Errorf("ipset: %w", err)
	}
	return &Kernel{h: h, sock: &nl.SocketHandle{Socket: s}, bs: bs}, nil
}

// Close releases the sockets.
func (k *Kernel) Close() {
	k.h.Close()
	k.sock.Close()
	k.bmu.Lock()
	k.bs.Close()
	k.bs = nil
	k.bmu.Unlock()
}

// Ensure lists the set's header and creates it only if the kernel has no set
// of that name, with its family, hashsize and maxelem (by default 1024 and
// 65536). A set of another type or family is an ErrConflict.
func (k *Kernel) Ensure(s Set) error {
	if err := validateSet(s); err != nil {
		return fmt.Errorf("ipset ensure: %w", err)
	}
	if s.MaxElem < 0 || s.HashSize < 0 {
		return fmt.Errorf("ipset ensure %s: negative maxelem %d or hashsize %d", s.Name, s.MaxElem, s.HashSize)
	}
	got, err := k.header(s.Name)
	switch {
	case err == nil:
		if !got.Same(s) {
			return fmt.Errorf("ipset ensure %s: exists as %s family %s, want %s family %s: %w",
				s.Name, got.Type, got.Family, s.Type, s.Family, ErrConflict)
		}
		return nil
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("ipset ensure %s: list: %w", s.Name, err)
	}
	if err := k.create(s); err != nil {
		return fmt.Errorf("ipset create %s: %w", s, kernelErr(err))
	}
	return nil
}

// Info lists the set's header (`ipset list -terse`): no members are sent.
func (k *Kernel) Info(name string) (Info, error) {
	if err := validateName(name); err != nil {
		return Info{}, fmt.Errorf("ipset info: %w", err)
	}
	info, err := k.header(name)
	if err != nil {
		return Info{}, fmt.Errorf("ipset info %s: %w", name, kernelErr(err))
	}
	return info, nil
}

// AddAll adds the entries with the exist flag, as many per request as fit
// in 32 KiB (about a thousand), which is what makes filling a set of
// hundreds of thousands of members take seconds rather than minutes.
func (k *Kernel) AddAll(name string, entries []Entry) error {
	if err := validateName(name); err != nil {
		return fmt.Errorf("ipset add: %w", err)
	}
	for _, e := range entries {
		if err := validateEntry(e); err != nil {
			return fmt.Errorf("ipset add %s: %w", name, err)
		}
	}
	if err := k.addBatches(name, entries); err != nil {
		return fmt.Errorf("ipset add %s: %w", name, kernelErr(err))
	}
	return nil
}

// Swap swaps the two sets (IPSET_CMD_SWAP).
func (k *Kernel) Swap(a, b string) error {
	for _, n := range []string{a, b} {
		if err := validateName(n); err != nil {
			return fmt.Errorf("ipset swap: %w", err)
		}
	}
	if err := call(func() error { return k.h.IpsetSwap(a, b) }); err != nil {
		return fmt.Errorf("ipset swap %s %s: %w", a, b, kernelErr(err))
	}
	return nil
}

// List dumps the set's members.
func (k *Kernel) List(name string) ([]Entry, error) {
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("ipset list: %w", err)
	}
	var res *netlink.IPSetResult
	err := call(func() (err error) {
		res, err = k.h.IpsetList(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ipset list %s: %w", name, kernelErr(err))
	}
	entries := make([]Entry, 0, len(res.Entries))
	for i := range res.Entries {
		e, err := fromNetlink(&res.Entries[i])
		if err != nil {
			return nil, fmt.Errorf("ipset list %s: %w", name, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Add adds e with the exist flag (the library's Replace: no NLM_F_EXCL), so
// an entry already there is not an error.
func (k *Kernel) Add(name string, e Entry) error {
	ne, err := toNetlink(name, e)
	if err != nil {
		return fmt.Errorf("ipset add: %w", err)
	}
	if err := call(func() error { return k.h.IpsetAdd(name, ne) }); err != nil {
		return fmt.Errorf("ipset add %s %s: %w", name, e, kernelErr(err))
	}
	return nil
}

// Del deletes e with the exist flag, with which the kernel does not report a
// missing entry (IPSET_ERR_EXIST, errno 4103); that error is ignored as well.
func (k *Kernel) Del(name string, e Entry) error {
	ne, err := toNetlink(name, e)
	if err != nil {
		return fmt.Errorf("ipset del: %w", err)
	}
	err = call(func() error { return k.h.IpsetDel(name, ne) })
	if err != nil && !errors.Is(err, nl.IPSetError(nl.IPSET_ERR_EXIST)) {
		return fmt.Errorf("ipset del %s %s: %w", name, e, kernelErr(err))
	}
	return nil
}

// Destroy destroys the set; a missing set is not an error, a referenced one
// is an ErrBusy.
func (k *Kernel) Destroy(name string) error {
	if err := validateName(name); err != nil {
		return fmt.Errorf("ipset destroy: %w", err)
	}
	err := call(func() error { return k.h.IpsetDestroy(name) })
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("ipset destroy %s: %w", name, kernelErr(err))
	}
	return nil
}

// call runs a library call and turns a panic into an error: netlink v1.3.1's
// ipsetExecute asserts every error to be a syscall.Errno and panics on the
// others (an interrupted dump, a short read, an unexpected sender).
func call(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("netlink library: %v", r)
		}
	}()
	return f()
}

// kernelErr adds this package's sentinel to the kernel's error where one
// applies, and names ipset's own error numbers (see Errno).
func kernelErr(err error) error {
	var ie nl.IPSetError
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	case errors.As(err, &ie):
		return &Errno{Code: int(ie), Err: err}
	}
	return err
}

func familyNumber(family string) uint8 {
	if family == FamilyInet6 {
		return unix.AF_INET6 // NFPROTO_IPV6
	}
	return unix.AF_INET // NFPROTO_IPV4
}

func familyName(n uint8) string {
	switch n {
	case unix.AF_INET:
		return FamilyInet
	case unix.AF_INET6:
		return FamilyInet6
	}
	return fmt.Sprintf("family(%d)", n)
}

func toNetlink(name string, e Entry) (*netlink.IPSetEntry, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	if err := validateEntry(e); err != nil {
		return nil, fmt.Errorf("set %s: %w", name, err)
	}
	ne := &netlink.IPSetEntry{IP: e.IP.AsSlice(), Replace: true}
	if e.Protocol == "" && e.Port == 0 {
		return ne, nil // hash:ip
	}
	proto, _ := protocolNumber(e.Protocol) // validated
	port := e.Port
	ne.Protocol, ne.Port = &proto, &port
	if e.IP2.IsValid() {
		ne.IP2 = e.IP2.AsSlice()
	}
	if e.Net.IsValid() {
		ne.IP2, ne.CIDR2 = e.Net.Addr().AsSlice(), uint8(e.Net.Bits())
	}
	return ne, nil
}

func fromNetlink(ne *netlink.IPSetEntry) (Entry, error) {
	var e Entry
	var ok bool
	if e.IP, ok = netip.AddrFromSlice(ne.IP); !ok {
		return Entry{}, fmt.Errorf("kernel entry with IP %v", ne.IP)
	}
	if ne.Protocol == nil && ne.Port == nil && ne.IP2 == nil {
		return e, nil // hash:ip
	}
	if ne.Protocol == nil || ne.Port == nil {
		return Entry{}, fmt.Errorf("kernel entry %s without protocol or port", e.IP)
	}
	e.Protocol = protocolName(*ne.Protocol)
	e.Port = *ne.Port
	if ne.IP2 != nil {
		if e.IP2, ok = netip.AddrFromSlice(ne.IP2); !ok {
			return Entry{}, fmt.Errorf("kernel entry %s with IP2 %v", e, ne.IP2)
		}
		e.IP2 = e.IP2.Unmap()
		if ne.CIDR2 != 0 { // hash:ip,port,net: the kernel sends the net as IP2 and CIDR2
			e.Net, e.IP2 = netip.PrefixFrom(e.IP2, int(ne.CIDR2)), netip.Addr{}
		}
	}
	return e, nil
}

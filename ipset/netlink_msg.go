//go:build linux

package ipset

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The requests the netlink library cannot make: create with a hashsize, add
// many entries per request (IPSET_ATTR_ADT, as `ipset restore` does) and a
// header-only list (`ipset list -terse`). They go over the Kernel's own
// NETLINK_NETFILTER socket, opened beside the library's Handle.

// maxBatchBytes bounds an AddAll request, so that an error reply (which
// echoes the request) fits the library's 64 KiB receive buffer.
const maxBatchBytes = 32 << 10

// IPSET_FLAG_LIST_HEADER: list the set's header only (no members).
const flagListHeader = 1 << 2

// attrs appends netlink attributes to a buffer.
type attrs []byte

func (b attrs) put(typ uint16, payload ...byte) attrs {
	n := 4 + len(payload)
	b = binary.NativeEndian.AppendUint16(b, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for n%4 != 0 {
		b = append(b, 0)
		n++
	}
	return b
}

// nest starts a nested attribute; end closes it.
func (b attrs) nest(typ uint16) (attrs, int) {
	at := len(b)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint16(b, typ|nl.NLA_F_NESTED)
	return b, at
}

func (b attrs) end(at int) attrs {
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
	return b
}

func (b attrs) putU32BE(typ uint16, v uint32) attrs {
	return b.put(typ|nl.NLA_F_NET_BYTEORDER, binary.BigEndian.AppendUint32(nil, v)...)
}

func (b attrs) putString(typ uint16, s string) attrs {
	return b.put(typ, append([]byte(s), 0)...)
}

func (b attrs) putIP(typ uint16, ip []byte) attrs {
	b, at := b.nest(typ)
	t := uint16(nl.IPSET_ATTR_IPADDR_IPV4)
	if len(ip) == 16 {
		t = nl.IPSET_ATTR_IPADDR_IPV6
	}
	return b.put(t|nl.NLA_F_NET_BYTEORDER, ip...).end(at)
}

// putEntry appends e as an IPSET_ATTR_DATA container; e must be valid.
func (b attrs) putEntry(e Entry) attrs {
	proto, _ := protocolNumber(e.Protocol)
	b, at := b.nest(nl.IPSET_ATTR_DATA)
	b = b.putIP(nl.IPSET_ATTR_IP, e.IP.AsSlice())
	b = b.put(nl.IPSET_ATTR_PROTO, proto)
	b = b.put(nl.IPSET_ATTR_PORT|nl.NLA_F_NET_BYTEORDER, byte(e.Port>>8), byte(e.Port))
	if e.IP2.IsValid() {
		b = b.putIP(nl.IPSET_ATTR_IP2, e.IP2.AsSlice())
	}
	return b.end(at)
}

// request builds an ipset request on the Kernel's socket: the nfgenmsg
// header, the protocol version, then body.
func (k *Kernel) request(cmd int, body attrs) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(cmd|(unix.NFNL_SUBSYS_IPSET<<8), nl.GetIpsetFlags(cmd))
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_NETFILTER: k.sock}
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_NETLINK, Version: nl.NFNETLINK_V0})
	req.AddRawData(attrs(nil).put(nl.IPSET_ATTR_PROTOCOL, nl.IPSET_PROTOCOL))
	req.AddRawData(body)
	return req
}

// execute sends req and returns the replies, with the kernel's ipset errors
// as nl.IPSetError (as the library returns them).
func execute(req *nl.NetlinkRequest) ([][]byte, error) {
	msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	if errno, ok := err.(syscall.Errno); ok && errno >= nl.IPSET_ERR_PRIVATE {
		err = nl.IPSetError(errno)
	}
	return msgs, err
}

// create makes set s with its family, hashsize and maxelem (revision 1 of
// our types, as the library's create: its header carries no attributes the
// library's List would log).
func (k *Kernel) create(s Set) error {
	s = s.Sizes()
	b := attrs(nil).putString(nl.IPSET_ATTR_SETNAME, s.Name).
		putString(nl.IPSET_ATTR_TYPENAME, s.Type).
		put(nl.IPSET_ATTR_REVISION, 1).
		put(nl.IPSET_ATTR_FAMILY, familyNumber(s.Family))
	b, at := b.nest(nl.IPSET_ATTR_DATA)
	b = b.putU32BE(nl.IPSET_ATTR_HASHSIZE, uint32(s.HashSize)).
		putU32BE(nl.IPSET_ATTR_MAXELEM, uint32(s.MaxElem)).end(at)
	req := k.request(nl.IPSET_CMD_CREATE, b)
	req.Flags |= unix.NLM_F_EXCL
	_, err := execute(req)
	return err
}

// addBatches sends entries in requests of at most maxBatchBytes, with the
// exist flag (no NLM_F_EXCL); the kernel adds each request's entries in
// order and stops at the first error.
func (k *Kernel) addBatches(name string, entries []Entry) error {
	for len(entries) > 0 {
		// The kernel wants a LINENO beside an ADT (it reports the failing
		// line with it to `ipset restore`); 0 is fine.
		b := attrs(nil).putString(nl.IPSET_ATTR_SETNAME, name).put(nl.IPSET_ATTR_LINENO, 0, 0, 0, 0)
		b, at := b.nest(nl.IPSET_ATTR_ADT)
		n := 0
		for n < len(entries) && len(b) < maxBatchBytes {
			b = b.putEntry(entries[n])
			n++
		}
		if _, err := execute(k.request(nl.IPSET_CMD_ADD, b.end(at))); err != nil {
			return fmt.Errorf("in the request of entries %s to %s: %w", entries[0], entries[n-1], err)
		}
		entries = entries[n:]
	}
	return nil
}

// header lists the set's header only.
func (k *Kernel) header(name string) (Info, error) {
	b := attrs(nil).putString(nl.IPSET_ATTR_SETNAME, name).putU32BE(nl.IPSET_ATTR_FLAGS, flagListHeader)
	msgs, err := execute(k.request(nl.IPSET_CMD_LIST, b))
	if err != nil {
		return Info{}, err
	}
	var info Info
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		for typ, v := range attributes(m[4:]) {
			switch typ {
			case nl.IPSET_ATTR_SETNAME:
				info.Name = cString(v)
			case nl.IPSET_ATTR_TYPENAME:
				info.Type = cString(v)
			case nl.IPSET_ATTR_FAMILY:
				if len(v) > 0 {
					info.Family = familyName(v[0])
				}
			case nl.IPSET_ATTR_DATA:
				for typ, v := range attributes(v) {
					if len(v) != 4 {
						continue
					}
					n := int(binary.BigEndian.Uint32(v))
					switch typ {
					case nl.IPSET_ATTR_HASHSIZE:
						info.HashSize = n
					case nl.IPSET_ATTR_MAXELEM:
						info.MaxElem = n
					case nl.IPSET_ATTR_ELEMENTS:
						info.Size = n
					case nl.IPSET_ATTR_REFERENCES:
						info.References = n
					}
				}
			}
		}
	}
	if info.Name != name {
		return Info{}, fmt.Errorf("kernel listed set %q, not %q", info.Name, name)
	}
	return info, nil
}

// attributes iterates over netlink attributes, types without flags.
func attributes(b []byte) func(yield func(uint16, []byte) bool) {
	return func(yield func(uint16, []byte) bool) {
		for len(b) >= 4 {
			n := int(binary.NativeEndian.Uint16(b))
			typ := binary.NativeEndian.Uint16(b[2:]) & nl.NLA_TYPE_MASK
			if n < 4 || n > len(b) {
				return
			}
			if !yield(typ, b[4:n]) {
				return
			}
			n = (n + 3) &^ 3
			if n > len(b) {
				return
			}
			b = b[n:]
		}
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

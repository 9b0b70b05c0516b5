// Package packaddr packs a netip.Addr into 16 bytes and two flag bits, for
// the compact keys of state.MemberKey and the ipset fake's entries (a
// netip.Addr holds a pointer for its zone; these keys hold none).
package packaddr

import "net/netip"

// Pack returns a as 16 bytes (IPv4 mapped into IPv6) and its flags: valid
// for a valid address, plus is4 for an IPv4 one; the zero Addr is all
// zeros and no flag. A zone is lost: callers keep zoned addresses apart.
func Pack(a netip.Addr, valid, is4 uint8) ([16]byte, uint8) {
	switch {
	case !a.IsValid():
		return [16]byte{}, 0
	case a.Is4():
		return a.As16(), valid | is4
	}
	return a.As16(), valid
}

// Unpack is Pack's inverse, given the flags Pack returned (or more).
func Unpack(b [16]byte, flags, valid, is4 uint8) netip.Addr {
	switch {
	case flags&valid == 0:
		return netip.Addr{}
	case flags&is4 != 0:
		return netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrFrom16(b)
}

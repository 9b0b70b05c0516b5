package ipset

import (
	"fmt"
	"hash/fnv"
)

// Sized returns s with the size for a set that must hold members members:
// MaxElem is the smallest power of two of at least twice members (so the set
// can take as many again before it must grow), and at least MaxElem (65536,
// kube-proxy's); HashSize is MaxElem/4 (the kernel's buckets then start about
// half full at members, and it need not rehash while the set fills), and at
// least HashSize (1024). Pure: the reconciler and the tests share it.
func Sized(s Set, members int) Set {
	s.MaxElem = max(MaxElem, pow2AtLeast(2*members))
	s.HashSize = max(HashSize, s.MaxElem/4)
	return s
}

// Fits tells whether a set of size s can hold members members.
func Fits(s Set, members int) bool { return members <= s.Sizes().MaxElem }

// pow2AtLeast returns the smallest power of two >= n (1 for n <= 1).
func pow2AtLeast(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// TempSuffix names the temporary set Grow fills: NAME-tmp.
const TempSuffix = "-tmp"

// TempName is the name of the temporary set Grow uses for name: NAME-tmp
// when that fits the kernel's 31 bytes; for a longer name, its first 19
// bytes, "-tmp" and 8 hex digits of a hash of the whole name (so two long
// names with one prefix still get two temporaries). A name that is no
// valid set name itself (empty, over 31 bytes) is refused.
func TempName(name string) (string, error) {
	if name == "" || len(name) > MaxNameLen {
		return "", fmt.Errorf("set name %q is not 1-%d bytes", name, MaxNameLen)
	}
	if t := name + TempSuffix; len(t) <= MaxNameLen {
		return t, nil
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%s%s%08x", name[:MaxNameLen-len(TempSuffix)-8], TempSuffix, h.Sum32()), nil
}

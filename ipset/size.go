package ipset

import "fmt"

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

// TempName is the name of the temporary set Grow uses for name; it must fit
// the kernel's 31 bytes, so name may have at most 27.
func TempName(name string) (string, error) {
	t := name + TempSuffix
	if len(t) > MaxNameLen {
		return "", fmt.Errorf("set name %q is too long to grow the set (temporary %q would exceed %d bytes)", name, t, MaxNameLen)
	}
	return t, nil
}

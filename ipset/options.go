package ipset

// The create options a set gets unless its Set says otherwise (see Sized), as
// kube-proxy creates its sets. They are also the kernel's defaults.
const (
	HashSize = 1024
	MaxElem  = 65536
)

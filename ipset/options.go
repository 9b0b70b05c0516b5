package ipset

// The create options every set gets, as kube-proxy creates its sets. They are
// also the kernel's defaults, which matters: the netlink library has no
// hashsize option, so the Kernel relies on the default for it.
const (
	HashSize = 1024
	MaxElem  = 65536
)

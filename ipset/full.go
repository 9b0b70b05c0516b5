package ipset

import "errors"

// ErrSetFull: the set holds MaxElem members and refuses another (the kernel's
// IPSET_ERR_HASH_FULL, errno 4352, "Hash is full"). Grow the set.
var ErrSetFull = errors.New("set is full")

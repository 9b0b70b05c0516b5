package netif

import "errors"

// ErrConflict: a link of the dummy's name exists with another type. Errors for
// a missing link wrap syscall.ENODEV, as the kernel's do.
var ErrConflict = errors.New("link exists with another type")

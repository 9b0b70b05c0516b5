package ipset

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink/nl"
)

// The kernel's ipset error numbers reach logs named: a full hairpin set used
// to log "errno 4352".
func TestKernelErrNamesIpsetErrors(t *testing.T) {
	tests := []struct {
		code int
		want string
		is   error
	}{
		{4352, "hash is full, cannot add more elements (IPSET_ERR_HASH_FULL, errno 4352)", ErrFull},
		{nl.IPSET_ERR_BUSY, "set is in use by a kernel component (IPSET_ERR_BUSY, errno 4100)", ErrBusy},
		{nl.IPSET_ERR_TYPE_MISMATCH, "set types do not match (IPSET_ERR_TYPE_MISMATCH, errno 4102)", nil},
		{4354, "invalid protocol (IPSET_ERR_INVALID_PROTO, errno 4354)", nil},
		{nl.IPSET_ERR_SKBINFO, "(IPSET_ERR_SKBINFO, errno 4114)", nil},
		{4115, "(IPSET_ERR_BITMASK_NETMASK_EXCL, errno 4115)", nil},
		{4999, "unknown ipset error (errno 4999)", nil},
	}
	for _, tt := range tests {
		lib := nl.IPSetError(tt.code)
		err := fmt.Errorf("ipset add X 10.0.0.1,tcp:80: %w", kernelErr(lib))
		if !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("errno %d: %q, want it to end in %q", tt.code, err, tt.want)
		}
		if !errors.Is(err, lib) {
			t.Errorf("errno %d: %v does not wrap the library's error", tt.code, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("errno %d: %v is not %v", tt.code, err, tt.is)
		}
	}
	// Plain errnos are left alone; ENOENT is ErrNotFound.
	if err := kernelErr(syscall.ENOENT); !errors.Is(err, ErrNotFound) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("ENOENT: %v", err)
	}
	if err := kernelErr(syscall.EPERM); err != syscall.EPERM {
		t.Errorf("EPERM: %v", err)
	}
}

func TestErrnoNamesMatchTheLibrary(t *testing.T) {
	for code, want := range map[int]string{
		nl.IPSET_ERR_PRIVATE: "IPSET_ERR_PRIVATE", nl.IPSET_ERR_EXIST: "IPSET_ERR_EXIST",
		nl.IPSET_ERR_SKBINFO: "IPSET_ERR_SKBINFO", nl.IPSET_ERR_TYPE_SPECIFIC: "IPSET_ERR_HASH_FULL",
	} {
		if got := ErrnoName(code); got != want {
			t.Errorf("ErrnoName(%d) = %q, want %q", code, got, want)
		}
	}
}

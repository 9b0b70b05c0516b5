package ipvs

import (
	"fmt"
	"syscall"
	"time"
)

// Conns counts the connections IPVS tracks for one real server, as the
// ActiveConn and InActConn columns of `ipvsadm -Ln` show them. InActConn
// includes TCP connections in TIME_WAIT and UDP "connections" until their
// IPVS timeout passes.
type Conns struct {
	Active, Inactive int
}

// Zero tells whether IPVS tracks no connection at all.
func (c Conns) Zero() bool { return c.Active == 0 && c.Inactive == 0 }

// Timeouts are IPVS's connection timeouts (`ipvsadm --set TCP TCPFIN UDP`),
// global to the network namespace. Zero leaves a value as it is when set.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// TimeoutConfig reads and writes IPVS's timeouts; kept apart from Interface
// because it is used once per full sync, not per object.
type TimeoutConfig interface {
	Timeouts() (Timeouts, error)
	// SetTimeouts sets the non-zero fields and leaves the others unchanged.
	SetTimeouts(Timeouts) error
}

// Want returns the timeouts of want that differ from have (zero fields of
// want are not wanted), and whether any does.
func (have Timeouts) Want(want Timeouts) (Timeouts, bool) {
	var out Timeouts
	if want.TCP > 0 && want.TCP != have.TCP {
		out.TCP = want.TCP
	}
	if want.TCPFin > 0 && want.TCPFin != have.TCPFin {
		out.TCPFin = want.TCPFin
	}
	if want.UDP > 0 && want.UDP != have.UDP {
		out.UDP = want.UDP
	}
	return out, out != Timeouts{}
}

// check refuses negative values and fractions of a second (the kernel
// stores whole seconds, as a 32-bit number).
func (t Timeouts) check() error {
	for _, d := range []time.Duration{t.TCP, t.TCPFin, t.UDP} {
		if d < 0 || d%time.Second != 0 || d/time.Second > 1<<31-1 {
			return fmt.Errorf("timeout %s is not a whole number of seconds in range: %w", d, syscall.EINVAL)
		}
	}
	return nil
}

// defaultTimeouts are the kernel's (ipvsadm -L --timeout on a fresh namespace).
var defaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

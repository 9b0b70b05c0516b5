package controllers

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// CrashPointEnv names the crash test hook, for the reliability e2e's
// "kill -9 at a random point of a cold sync": with IPVSP_CRASH_AT=F
// (0 < F < 1) the process kills itself with SIGKILL, as `kill -9` would,
// once F of the operations of its first large apply (at least
// crashMinOps, i.e. a cold sync) have been handed to the kernel. The kill
// point is taken from the sync itself, so it lands inside the sync however
// fast the sync is. Unset (always, outside tests), it does nothing.
const CrashPointEnv = "IPVSP_CRASH_AT"

// crashMinOps: smaller applies (the incremental syncs a test makes while
// it sets up) never arm the hook.
const crashMinOps = 100

// crashPoint is the armed hook; nil when unset.
type crashPoint struct {
	at   float64
	kill func() // SIGKILL to ourselves; replaced in tests
}

// crashPointFrom reads the hook's setting from getenv (os.Getenv).
func crashPointFrom(getenv func(string) string) (*crashPoint, error) {
	v := getenv(CrashPointEnv)
	if v == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0 && f < 1) {
		return nil, fmt.Errorf("%s=%q: want a fraction between 0 and 1 (exclusive)", CrashPointEnv, v)
	}
	return &crashPoint{at: f, kill: killSelf}, nil
}

// due tells whether the point is reached before operation i (0-based) of
// an apply of total operations.
func (c *crashPoint) due(i, total int) bool {
	return c != nil && total >= crashMinOps && float64(i) >= c.at*float64(total)
}

func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered asynchronously: make nothing more
}

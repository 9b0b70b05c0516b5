package ipvs

import (
	"fmt"
	"strings"
)

// SchedFlags are the three IPVS scheduler flags (IP_VS_SVC_F_SCHED1..3).
// Their meaning depends on the scheduler: for sh and mh, flag-1 is
// fallback and flag-2 is port (hash the source port too).
type SchedFlags uint32

// The scheduler flag bits, as the kernel numbers them.
const (
	SchedFlag1 SchedFlags = 0x0008
	SchedFlag2 SchedFlags = 0x0010
	SchedFlag3 SchedFlags = 0x0020

	// SchedFlagsMask covers every scheduler flag.
	SchedFlagsMask = SchedFlag1 | SchedFlag2 | SchedFlag3
)

// schedFlagNames returns ipvsadm's names of the three flags for a scheduler.
func schedFlagNames(scheduler string) [3]string {
	switch scheduler {
	case "sh", "mh":
		return [3]string{scheduler + "-fallback", scheduler + "-port", "flag-3"}
	}
	return [3]string{"flag-1", "flag-2", "flag-3"}
}

// Names renders the flags as ipvsadm -Sn prints them after -b for the
// scheduler ("mh-fallback,mh-port"); "" when none is set.
func (f SchedFlags) Names(scheduler string) string {
	names := schedFlagNames(scheduler)
	var out []string
	for i, bit := range []SchedFlags{SchedFlag1, SchedFlag2, SchedFlag3} {
		if f&bit != 0 {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ",")
}

// ParseSchedFlags reads ipvsadm's flag names for a scheduler: flag-1,
// flag-2 and flag-3 always, and sh-fallback/sh-port or
// mh-fallback/mh-port for sh and mh only.
func ParseSchedFlags(scheduler string, names []string) (SchedFlags, error) {
	own := schedFlagNames(scheduler)
	var f SchedFlags
	for _, n := range names {
		switch n {
		case "flag-1", own[0]:
			f |= SchedFlag1
		case "flag-2", own[1]:
			f |= SchedFlag2
		case "flag-3":
			f |= SchedFlag3
		default:
			return 0, fmt.Errorf("scheduler flag %q is not one of flag-1, flag-2, flag-3, %s, %s for scheduler %q", n, own[0], own[1], scheduler)
		}
	}
	return f, nil
}

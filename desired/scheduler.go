package desired

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
	"github.com/ipvs-proxy/ipvs-proxy/ipvs"
)

// Annotations that choose a Service's own scheduler (something kube-proxy
// never had): the scheduler's name and, optionally, its flags (comma
// separated ipvsadm names, e.g. "mh-fallback,mh-port").
const (
	SchedulerAnnotation      = "ipvs-proxy.io/scheduler"
	SchedulerFlagsAnnotation = "ipvs-proxy.io/scheduler-flags"
)

// Scheduler is an IPVS scheduler with its flags.
type Scheduler struct {
	Name  string
	Flags ipvs.SchedFlags
}

// NewScheduler checks a scheduler and its flag names. Without flags, mh gets
// mh-port, as kube-proxy sets it: mh then hashes the source port too, so the
// connections of one client spread over the real servers.
func NewScheduler(name string, flags []string) (Scheduler, error) {
	if !slices.Contains(v1alpha1.Schedulers, name) {
		return Scheduler{}, fmt.Errorf("scheduler %q is not one of %v", name, v1alpha1.Schedulers)
	}
	if len(flags) == 0 && name == "mh" {
		return Scheduler{Name: name, Flags: ipvs.SchedFlag2}, nil
	}
	f, err := ipvs.ParseSchedFlags(name, flags)
	if err != nil {
		return Scheduler{}, err
	}
	return Scheduler{Name: name, Flags: f}, nil
}

// schedulerOf returns the scheduler of svc: the annotations' when they are
// valid, else the default; a bad annotation also returns the problem (for a
// Warning Event). Flags without a scheduler annotation apply to the default
// scheduler; a scheduler annotation without flags gets that scheduler's
// default flags.
func schedulerOf(svc *corev1.Service, def Scheduler) (Scheduler, error) {
	name, hasName := svc.Annotations[SchedulerAnnotation]
	rawFlags, hasFlags := svc.Annotations[SchedulerFlagsAnnotation]
	if !hasName && !hasFlags {
		return def, nil
	}
	if !hasName {
		name = def.Name
	}
	var flags []string
	for _, f := range strings.Split(rawFlags, ",") {
		if f = strings.TrimSpace(f); f != "" {
			flags = append(flags, f)
		}
	}
	s, err := NewScheduler(strings.TrimSpace(name), flags)
	if err != nil {
		return def, fmt.Errorf("annotations %s=%q %s=%q: %w; using %s", SchedulerAnnotation, name, SchedulerFlagsAnnotation, rawFlags, err, def)
	}
	return s, nil
}

// String renders "mh (mh-port)" or "rr".
func (s Scheduler) String() string {
	if f := s.Flags.Names(s.Name); f != "" {
		return s.Name + " (" + f + ")"
	}
	return s.Name
}

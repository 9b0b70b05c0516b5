package v1alpha1

import "fmt"

// Takeover modes: what ipvs-proxy does at start on a node where kube-proxy's
// IPVS mode left its state (controllers/takeover.go).
const (
	// TakeoverAuto adopts kube-proxy's virtual servers and addresses that
	// match the desired state in place and removes its leftovers, when its
	// sets exist and kube-proxy does not answer on its healthz or metrics
	// port (it no longer runs). The default.
	TakeoverAuto = "auto"
	// TakeoverOff leaves kube-proxy's state alone: its virtual servers stay
	// foreign (Services that collide get a SyncProblem Event);
	// `ipvs-proxy cleanup --kube-proxy` removes them by hand.
	TakeoverOff = "off"
)

// validateTakeover accepts the modes; empty means auto (a Config built in
// code without Defaults).
func (c Config) validateTakeover() []error {
	if c.Takeover != "" && c.Takeover != TakeoverAuto && c.Takeover != TakeoverOff {
		return []error{fmt.Errorf("takeover: %q is not %s or %s", c.Takeover, TakeoverAuto, TakeoverOff)}
	}
	return nil
}

package conformance

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// Side names the proxy whose line the other lacks.
const (
	KubeProxy = "kube-proxy"
	IPVSProxy = "ipvs-proxy"
)

// Allow is one entry of the allowlist (allowlist.yaml): lines matching
// Match that only Side has are accepted, for Reason.
type Allow struct {
	Side   string `json:"side"`
	Match  string `json:"match"`
	Reason string `json:"reason"`
	re     *regexp.Regexp
}

// LoadAllowlist reads and checks an allowlist file: every entry needs a
// side, a regular expression and a reason.
func LoadAllowlist(path string) ([]Allow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseAllowlist(b)
}

// ParseAllowlist parses allowlist YAML (a list of Allow).
func ParseAllowlist(b []byte) ([]Allow, error) {
	var list []Allow
	if err := yaml.UnmarshalStrict(b, &list); err != nil {
		return nil, fmt.Errorf("allowlist: %w", err)
	}
	var errs []error
	for i := range list {
		a := &list[i]
		if a.Side != KubeProxy && a.Side != IPVSProxy {
			errs = append(errs, fmt.Errorf("allowlist entry %d: side %q: want %s or %s", i+1, a.Side, KubeProxy, IPVSProxy))
		}
		if strings.TrimSpace(a.Reason) == "" {
			errs = append(errs, fmt.Errorf("allowlist entry %d: no reason", i+1))
		}
		re, err := regexp.Compile(a.Match)
		if err != nil || a.Match == "" {
			errs = append(errs, fmt.Errorf("allowlist entry %d: match %q: %v", i+1, a.Match, err))
			continue
		}
		a.re = re
	}
	return list, errors.Join(errs...)
}

// Result is the comparison of two dumps.
type Result struct {
	// OnlyKubeProxy and OnlyIPVSProxy are the differences no allowlist
	// entry accepts: any of them fails the suite.
	OnlyKubeProxy, OnlyIPVSProxy []string
	// Allowed are the accepted differences, "side: line  # reason".
	Allowed []string
	// Used counts the lines each allowlist entry accepted.
	Used []int
}

// OK reports whether the dumps agree up to the allowlist.
func (r Result) OK() bool { return len(r.OnlyKubeProxy) == 0 && len(r.OnlyIPVSProxy) == 0 }

// String prints the differences as a diff: "-" kube-proxy only, "+"
// ipvs-proxy only.
func (r Result) String() string {
	var b strings.Builder
	for _, l := range r.OnlyKubeProxy {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	for _, l := range r.OnlyIPVSProxy {
		fmt.Fprintf(&b, "+ %s\n", l)
	}
	return b.String()
}

// Compare compares kube-proxy's dump with ipvs-proxy's, line by line.
func Compare(kp, ip Dump, allow []Allow) Result {
	r := Result{Used: make([]int, len(allow))}
	in := func(d Dump) map[string]bool {
		m := make(map[string]bool, len(d))
		for _, l := range d {
			m[l] = true
		}
		return m
	}
	inKP, inIP := in(kp), in(ip)
	only := func(side string, d Dump, other map[string]bool) []string {
		var out []string
	next:
		for _, l := range d {
			if other[l] {
				continue
			}
			for i, a := range allow {
				if a.Side == side && a.re != nil && a.re.MatchString(l) {
					r.Used[i]++
					r.Allowed = append(r.Allowed, fmt.Sprintf("%s: %s  # %s", side, l, firstLine(a.Reason)))
					continue next
				}
			}
			out = append(out, l)
		}
		return out
	}
	r.OnlyKubeProxy = only(KubeProxy, kp, inIP)
	r.OnlyIPVSProxy = only(IPVSProxy, ip, inKP)
	return r
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

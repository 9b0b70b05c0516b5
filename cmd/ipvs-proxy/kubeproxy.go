package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// kube-proxy's configuration file, accepted by --config in mode ipvs. Only
// its field names are needed (no import of kube-proxy's types): a field we
// honour is mapped onto our key, a field we ignore gives one warning when
// set to anything but its zero value or kube-proxy's default, and a field
// kube-proxy does not have is an error, as kube-proxy's strict decoding
// makes it.
const (
	kubeProxyAPIVersion = "kubeproxy.config.k8s.io/v1alpha1"
	kubeProxyKind       = "KubeProxyConfiguration"
)

// kubeProxyField maps one kube-proxy field onto one of our keys.
type kubeProxyField struct {
	key  string // our key (v1alpha1.Config's mapstructure tag)
	kind string // "string", "duration", "bool", "int", "list"
}

// kubeProxyMapped is the README's table "kube-proxy configuration".
// ipvs.syncPeriod and ipvs.minSyncPeriod win over the top-level fields of
// later kube-proxy versions when both are set.
var kubeProxyMapped = map[string]kubeProxyField{
	"clientConnection.kubeconfig":     {"kubeconfig", "string"},
	"hostnameOverride":                {"nodeName", "string"},
	"clusterCIDR":                     {"clusterCIDR", "string"},
	"nodePortAddresses":               {"nodePortAddresses", "list"},
	"ipvs.scheduler":                  {"scheduler", "string"},
	"ipvs.syncPeriod":                 {"syncPeriod", "duration"},
	"ipvs.minSyncPeriod":              {"minSyncPeriod", "duration"},
	"syncPeriod":                      {"syncPeriod", "duration"},
	"minSyncPeriod":                   {"minSyncPeriod", "duration"},
	"iptables.masqueradeAll":          {"masqueradeAll", "bool"},
	"iptables.masqueradeBit":          {"masqueradeBit", "int"},
	"healthzBindAddress":              {"healthzAddress", "string"},
	"metricsBindAddress":              {"metricsAddress", "string"},
	"enableProfiling":                 {"enableProfiling", "bool"},
	"ipvs.strictARP":                  {"strictARP", "bool"},
	"ipvs.tcpTimeout":                 {"ipvsTCPTimeout", "duration"},
	"ipvs.tcpFinTimeout":              {"ipvsTCPFinTimeout", "duration"},
	"ipvs.udpTimeout":                 {"ipvsUDPTimeout", "duration"},
	"detectLocalMode":                 {"detectLocalMode", "string"},
	"detectLocal.bridgeInterface":     {"bridgeInterface", "string"},
	"detectLocal.interfaceNamePrefix": {"interfaceNamePrefix", "string"},
	"logging.format":                  {"logFormat", "string"},
	"logging.verbosity":               {"verbosity", "int"},
}

// kubeProxyIgnored are the other fields of KubeProxyConfiguration v1alpha1
// (kube-proxy 1.37), with why we ignore them. Maps and free-form objects
// (featureGates, logging.options) count as one field.
var kubeProxyIgnored = map[string]string{
	"featureGates":                        "",
	"clientConnection.acceptContentTypes": "",
	"clientConnection.contentType":        "",
	"clientConnection.qps":                "",
	"clientConnection.burst":              "",
	"logging.flushFrequency":              "",
	"logging.vmodule":                     "",
	"logging.options":                     "",
	"bindAddress":                         "",
	"bindAddressHardFail":                 "",
	"showHiddenMetricsForVersion":         "",
	"iptables.localhostNodePorts":         "ipvs-proxy never serves NodePorts on localhost",
	"iptables.syncPeriod":                 "mode ipvs uses ipvs.syncPeriod",
	"iptables.minSyncPeriod":              "mode ipvs uses ipvs.minSyncPeriod",
	"ipvs.excludeCIDRs":                   "ipvs-proxy never deletes virtual servers it did not create",
	"nftables.masqueradeBit":              "mode ipvs uses iptables.masqueradeBit",
	"nftables.masqueradeAll":              "mode ipvs uses iptables.masqueradeAll",
	"nftables.syncPeriod":                 "mode ipvs uses ipvs.syncPeriod",
	"nftables.minSyncPeriod":              "mode ipvs uses ipvs.minSyncPeriod",
	"winkernel.networkName":               "Windows only",
	"winkernel.sourceVip":                 "Windows only",
	"winkernel.enableDSR":                 "Windows only",
	"winkernel.rootHnsEndpointName":       "Windows only",
	"winkernel.forwardHealthCheckVip":     "Windows only",
	"windowsRunAsService":                 "Windows only",
	"oomScoreAdj":                         "set it in the Pod spec",
	"conntrack.maxPerCore":                "ipvs-proxy does not set conntrack sysctls",
	"conntrack.min":                       "ipvs-proxy does not set conntrack sysctls",
	"conntrack.tcpEstablishedTimeout":     "ipvs-proxy does not set conntrack sysctls",
	"conntrack.tcpCloseWaitTimeout":       "ipvs-proxy does not set conntrack sysctls",
	"conntrack.tcpBeLiberal":              "ipvs-proxy does not set conntrack sysctls",
	"conntrack.udpTimeout":                "ipvs-proxy does not set conntrack sysctls",
	"conntrack.udpStreamTimeout":          "ipvs-proxy does not set conntrack sysctls",
	"configSyncPeriod":                    "ipvs-proxy's informers do not resync",
	"portRange":                           "",
}

// kubeProxyDefaults are kube-proxy's defaults for ignored fields, which
// files written by tools (kubeadm) spell out; they draw no warning.
var kubeProxyDefaults = map[string]string{
	"bindAddress":                     "0.0.0.0",
	"clientConnection.contentType":    "application/vnd.kubernetes.protobuf",
	"clientConnection.qps":            "5",
	"clientConnection.burst":          "10",
	"iptables.localhostNodePorts":     "true",
	"iptables.syncPeriod":             "30s",
	"iptables.minSyncPeriod":          "1s",
	"nftables.masqueradeBit":          "14",
	"nftables.syncPeriod":             "30s",
	"nftables.minSyncPeriod":          "1s",
	"oomScoreAdj":                     "-999",
	"conntrack.maxPerCore":            "32768",
	"conntrack.min":                   "131072",
	"conntrack.tcpEstablishedTimeout": "24h0m0s",
	"conntrack.tcpCloseWaitTimeout":   "1h0m0s",
	"configSyncPeriod":                "15m0s",
	"logging.flushFrequency":          "5s",
}

// kubeProxyHeader is what every file is first read as, to tell a
// KubeProxyConfiguration from our own format.
type kubeProxyHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// isKubeProxyConfig tells whether data (YAML) is a KubeProxyConfiguration.
func isKubeProxyConfig(data []byte) bool {
	var h kubeProxyHeader
	return yaml.Unmarshal(data, &h) == nil && h.Kind == kubeProxyKind
}

// fromKubeProxy translates a KubeProxyConfiguration into our keys (values
// typed as v1alpha1.Config's fields), one warning per ignored field set,
// and every problem found (a mode other than ipvs, a value of the wrong
// type, a field kube-proxy does not have); the values that are right are
// returned whatever the problems.
func fromKubeProxy(data []byte) (map[string]any, []string, []error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, []error{err}
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, []error{fmt.Errorf("not a %s: %w", kubeProxyKind, err)}
	}
	var (
		errs     []error
		warnings []string
		out      = map[string]any{}
		from     = map[string]string{} // our key -> the kube-proxy field that set it
	)
	if v, _ := doc["apiVersion"].(string); v != kubeProxyAPIVersion {
		errs = append(errs, fmt.Errorf("apiVersion %q: a %s must be %s", v, kubeProxyKind, kubeProxyAPIVersion))
	}
	switch mode, _ := doc["mode"].(string); mode {
	case "ipvs":
	case "":
		errs = append(errs, errors.New(`mode is not set, and kube-proxy's default mode is iptables: ipvs-proxy replaces only mode "ipvs"; set mode: ipvs`))
	default:
		errs = append(errs, fmt.Errorf(`mode %q: ipvs-proxy replaces only kube-proxy's mode "ipvs"`, mode))
	}
	fields := map[string]any{}
	flatten("", doc, fields)
	delete(fields, "apiVersion")
	delete(fields, "kind")
	delete(fields, "mode")
	// ipvs.* first, so that they win over the top-level sync periods.
	paths := slices.SortedFunc(maps.Keys(fields), func(a, b string) int {
		if ai, bi := strings.HasPrefix(a, "ipvs."), strings.HasPrefix(b, "ipvs."); ai != bi {
			if ai {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, path := range paths {
		val := fields[path]
		if m, ok := kubeProxyMapped[path]; ok {
			if isZero(val) {
				continue
			}
			v, err := convert(val, m.kind)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
				continue
			}
			if prev, ok := from[m.key]; ok {
				if fmt.Sprint(out[m.key]) != fmt.Sprint(v) {
					warnings = append(warnings, fmt.Sprintf("KubeProxyConfiguration field %s is ignored: %s is set too and wins", path, prev))
				}
				continue
			}
			out[m.key], from[m.key] = v, path
			continue
		}
		reason, known := kubeProxyIgnored[path]
		if !known {
			errs = append(errs, fmt.Errorf("unknown field %q (not in %s %s)", path, kubeProxyKind, kubeProxyAPIVersion))
			continue
		}
		if isZero(val) || kubeProxyDefaults[path] == display(val) {
			continue
		}
		w := fmt.Sprintf("KubeProxyConfiguration field %s is not supported by ipvs-proxy and is ignored", path)
		if reason != "" {
			w += " (" + reason + ")"
		}
		warnings = append(warnings, w)
	}
	return out, warnings, errs
}

// leaves are objects kube-proxy treats as one value.
var leaves = map[string]bool{"featureGates": true, "logging.options": true}

// flatten records every field of doc under its dotted path; objects are
// descended into (but for leaves), other values are leaves.
func flatten(prefix string, doc map[string]any, out map[string]any) {
	for k, v := range doc {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok && !leaves[path] {
			flatten(path, m, out)
			continue
		}
		out[path] = v
	}
}

// isZero: null, "", false, 0, a zero duration, an empty list and an object
// of such values are "not set", as kube-proxy's defaulting reads them.
func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		if x == "" || x == "0" { // "0": a zero quantity (logging.options.*.infoBufferSize)
			return true
		}
		d, err := time.ParseDuration(x)
		return err == nil && d == 0
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, v := range x {
			if !isZero(v) {
				return false
			}
		}
		return true
	}
	return false
}

// display renders a value to compare it with kubeProxyDefaults.
func display(v any) string {
	if s, ok := v.(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			return d.String()
		}
		return s
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil && i > 1e9 { // a duration in nanoseconds
			return time.Duration(i).String()
		}
	}
	return fmt.Sprint(v)
}

// convert checks one mapped value's type and returns it as our field's type.
func convert(v any, kind string) (any, error) {
	switch kind {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bool":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "int":
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.Atoi(n.String()); err == nil {
				return i, nil
			}
		}
	case "duration":
		switch x := v.(type) {
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration (like 30s or 1m)", x)
			}
			return d, nil
		case json.Number: // metav1.Duration does not take numbers, but YAML writers do
			return nil, fmt.Errorf("%s is not a duration: give a unit, like %ss", x, x)
		}
	case "list":
		if l, ok := v.([]any); ok {
			out := make([]string, 0, len(l))
			for _, x := range l {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("%v is not a list of strings", v)
				}
				out = append(out, s)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s is not %s", display(v), kindNames[kind])
}

var kindNames = map[string]string{
	"string": "a string", "bool": "true or false", "int": "an integer", "duration": "a duration", "list": "a list of strings",
}

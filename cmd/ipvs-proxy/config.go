package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

const (
	configFlag = "config"
	envPrefix  = "IPVS_PROXY_"
)

// setting is one field of v1alpha1.Config under its three names.
type setting struct {
	key  string // the YAML key and mapstructure tag, e.g. nodePortAddresses
	flag string // e.g. node-port-addresses
	env  string // e.g. IPVS_PROXY_NODE_PORT_ADDRESSES
}

// settings lists the fields of v1alpha1.Config, named from their mapstructure tags.
func settings() []setting {
	t := reflect.TypeFor[v1alpha1.Config]()
	out := make([]setting, 0, t.NumField())
	for f := range t.Fields() {
		key := f.Tag.Get("mapstructure")
		words := splitCamel(key)
		out = append(out, setting{
			key:  key,
			flag: strings.ToLower(strings.Join(words, "-")),
			env:  envPrefix + strings.ToUpper(strings.Join(words, "_")),
		})
	}
	return out
}

// splitCamel splits "clusterCIDR" into "cluster", "CIDR" and
// "nodePortAddresses" into "node", "Port", "Addresses".
func splitCamel(s string) []string {
	var words []string
	r := []rune(s)
	start := 0
	for i := 1; i < len(r); i++ {
		lowerToUpper := unicode.IsLower(r[i-1]) && unicode.IsUpper(r[i])
		acronymEnd := unicode.IsUpper(r[i-1]) && unicode.IsUpper(r[i]) && i+1 < len(r) && unicode.IsLower(r[i+1])
		if lowerToUpper || acronymEnd {
			words = append(words, string(r[start:i]))
			start = i
		}
	}
	return append(words, string(r[start:]))
}

// addConfigFlags defines a flag per configuration field; only the flags a
// user sets override the file and the environment. The flag defaults are
// for --help only (loadConfig takes the defaults from v1alpha1.Defaults);
// --node-name shows none, as it depends on the machine.
func addConfigFlags(fs *pflag.FlagSet) {
	d := v1alpha1.Defaults()
	fs.String("kubeconfig", d.Kubeconfig, "path to a kubeconfig `FILE`; empty means in-cluster")
	fs.String("node-name", "", "this node's `NAME` (default $NODE_NAME, else the hostname)")
	fs.String("scheduler", d.Scheduler, "IPVS scheduler of every virtual server, one of "+strings.Join(v1alpha1.Schedulers, ", "))
	fs.StringSlice("scheduler-flags", d.SchedulerFlags, "scheduler `FLAGS`: flag-1, flag-2, flag-3 (sh-/mh-fallback, sh-/mh-port); mh defaults to mh-port")
	fs.String("service-proxy-name", d.ServiceProxyName, "also implement Services labelled service.kubernetes.io/service-proxy-name=`NAME` (default: skip every labelled Service, like kube-proxy)")
	fs.String("dummy-interface", d.DummyInterface, "dummy link `NAME` that holds the ClusterIPs")
	fs.StringSlice("node-port-addresses", d.NodePortAddresses, "`CIDRs` (or primary: the Node's IPs) whose node addresses get NodePorts; a family without one gets every address")
	fs.String("cluster-cidr", d.ClusterCIDR, "pod `CIDR` (one per family, comma separated); ClusterIP traffic from outside it is masqueraded")
	fs.Bool("masquerade-all", d.MasqueradeAll, "masquerade all traffic sent to ClusterIPs")
	fs.String("detect-local-mode", d.DetectLocalMode, "how pod traffic is told apart: ClusterCIDR (default), NodeCIDR, BridgeInterface or InterfaceNamePrefix")
	fs.String("bridge-interface", d.BridgeInterface, "pods' bridge `NAME` for --detect-local-mode BridgeInterface")
	fs.String("interface-name-prefix", d.InterfaceNamePrefix, "pods' interface name `PREFIX` for --detect-local-mode InterfaceNamePrefix")
	fs.Int("masquerade-bit", d.MasqueradeBit, "fwmark `BIT` (0-31) that marks packets for masquerade")
	fs.Duration("min-sync-period", d.MinSyncPeriod, "least time between two syncs")
	fs.Duration("sync-period", d.SyncPeriod, "time between periodic refreshes of Services whose objects changed")
	fs.Duration("audit-period", d.AuditPeriod, "time in which the rolling audit reads all of our kernel state once and repairs drift; 0 disables it")
	fs.String("log-format", d.LogFormat, "log `FORMAT`: text or json")
	fs.IntP("verbosity", "v", d.Verbosity, "log `LEVEL` (0 = changes are not logged, 2 = every change); --v works too")
	fs.String("healthz-address", d.HealthzAddress, "`HOST:PORT` serving /healthz and /livez; empty disables it")
	fs.String("metrics-address", d.MetricsAddress, "`HOST:PORT` serving /metrics; empty disables it")
	fs.Bool("enable-profiling", d.EnableProfiling, "also serve Go's /debug/pprof on the metrics address (kube-proxy's enableProfiling)")
	addHostFlags(fs, d)
	fs.String("takeover", d.Takeover, "kube-proxy's IPVS state at start: auto (adopt what matches in place, remove its leftovers, when kube-proxy no longer runs) or off")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "v" {
			name = "verbosity"
		}
		return pflag.NormalizedName(name)
	})
}

// loadConfig builds the configuration from, by rising precedence, the
// defaults, the --config file, the IPVS_PROXY_* environment and the flags
// set in fs, and validates it. Every problem is reported at once: type
// errors (blamed on the file or the environment variable that holds the
// value) and value errors together, as one *invalidConfigError; a value
// that does not decode is judged by its default so it is named only once.
// The warnings (unknown IPVS_PROXY_* variables) are for the caller to show.
func loadConfig(fs *pflag.FlagSet) (v1alpha1.Config, []string, error) {
	v := viper.New()
	defaults := reflect.ValueOf(v1alpha1.Defaults())
	for i, s := range settings() {
		v.SetDefault(s.key, defaults.Field(i).Interface())
	}
	var (
		problems []error
		failed   = map[string]bool{} // keys whose value did not decode
	)
	var warnings []string
	if path, _ := fs.GetString(configFlag); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return v1alpha1.Config{}, nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if isKubeProxyConfig(data) {
			settings, warns, errs := fromKubeProxy(data)
			for _, err := range errs {
				problems = append(problems, fmt.Errorf("config file %s: %s: %w", path, kubeProxyKind, err))
			}
			for _, w := range warns {
				warnings = append(warnings, "config file "+path+": "+w)
			}
			if err := v.MergeConfigMap(settings); err != nil {
				return v1alpha1.Config{}, nil, fmt.Errorf("config file %s: %w", path, err)
			}
		} else {
			v.SetConfigType("yaml")
			if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
				return v1alpha1.Config{}, nil, fmt.Errorf("config file %s: %w", path, err)
			}
		}
		// Decode the file on its own first, so its mistakes are blamed on it.
		_, errs := decode(v)
		for _, e := range errs {
			failed[e.key] = true
			problems = append(problems, fmt.Errorf("config file %s: %w", path, e))
		}
	}
	for _, s := range settings() {
		if err := v.BindEnv(s.key, s.env); err != nil {
			return v1alpha1.Config{}, nil, err
		}
		if f := fs.Lookup(s.flag); f != nil {
			if err := v.BindPFlag(s.key, f); err != nil {
				return v1alpha1.Config{}, nil, err
			}
		}
	}
	cfg, errs := decode(v)
	byKey := map[string]setting{}
	for _, s := range settings() {
		byKey[s.key] = s
	}
	for _, e := range errs {
		s, ok := byKey[e.key]
		if !ok || os.Getenv(s.env) == "" {
			continue // from the file, reported above (flags are typed by pflag)
		}
		failed[e.key] = true
		problems = append(problems, fmt.Errorf("environment %s: %w", s.env, e))
	}
	for i, s := range settings() {
		if failed[s.key] {
			reflect.ValueOf(&cfg).Elem().Field(i).Set(defaults.Field(i))
		}
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return v1alpha1.Config{}, nil, &invalidConfigError{errors.Join(problems...)}
	}
	return cfg, append(warnings, unknownEnv(os.Environ())...), nil
}

// unknownEnv returns a warning for every IPVS_PROXY_* variable in environ
// (KEY=VALUE pairs) that names no setting: most likely a typo, and ignored.
func unknownEnv(environ []string) []string {
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.env] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] {
			out = append(out, fmt.Sprintf("environment variable %s is not a setting and is ignored (known: %s*, see --help)", name, envPrefix)+suggest(name, known))
		}
	}
	slices.Sort(out)
	return out
}

// suggest names the known variable closest to name, when one is close.
func suggest(name string, known map[string]bool) string {
	best, bestDist := "", 3 // at most two edits away
	for k := range known {
		if d := editDistance(name, k); d < bestDist || d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldError is a value that did not decode into its field, or unknown keys
// (key "").
type fieldError struct {
	key string
	err error
}

func (e fieldError) Error() string {
	if e.key == "" {
		return e.err.Error()
	}
	return e.key + ": " + e.err.Error()
}

func (e fieldError) Unwrap() error { return e.err }

// decode unmarshals what v holds now, refusing keys Config does not have. A
// field that does not decode is left zero and reported; the others decode.
func decode(v *viper.Viper) (v1alpha1.Config, []fieldError) {
	var (
		cfg  v1alpha1.Config
		errs []fieldError
	)
	err := v.Unmarshal(&cfg, func(c *mapstructure.DecoderConfig) {
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToListHook,
		)
	})
	if err != nil {
		var list []error
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			list = joined.Unwrap()
		} else {
			list = []error{err}
		}
		for _, e := range list {
			fe := fieldErrorOf(e)
			if fe.key != "" {
				fe.err = fmt.Errorf("%s: %w", quoteValue(v.Get(fe.key)), fe.err)
			}
			errs = append(errs, fe)
		}
	}
	// Not md.Unused: mapstructure stops collecting it at the first error.
	known := map[string]bool{}
	for _, k := range keys() {
		known[strings.ToLower(k)] = true // viper lower-cases keys
	}
	var unknown []string
	for _, k := range v.AllKeys() {
		top, _, _ := strings.Cut(k, ".")
		if !known[top] && !slices.Contains(unknown, top) {
			unknown = append(unknown, top)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		errs = append(errs, fieldError{err: fmt.Errorf("unknown key(s) %q; known keys are %s", unknown, strings.Join(keys(), ", "))})
	}
	return cfg, errs
}

// quoteValue shows a value that did not decode: strings quoted.
func quoteValue(x any) string {
	if s, ok := x.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%v", x)
}

// fieldErrorOf names the top-level key of one mapstructure error
// ("nodePortAddresses[1]" is nodePortAddresses).
func fieldErrorOf(err error) fieldError {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return fieldError{err: err}
	}
	key := de.Name()
	if i := strings.IndexAny(key, ".["); i >= 0 {
		key = key[:i]
	}
	inner := de.Unwrap()
	if key != de.Name() {
		inner = fmt.Errorf("%s: %w", de.Name()[len(key):], inner)
	}
	return fieldError{key: key, err: inner}
}

// stringToListHook turns "a, b," (from the environment) into [a b].
func stringToListHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice {
		return data, nil
	}
	var out []string
	for _, s := range strings.Split(data.(string), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func keys() []string {
	var out []string
	for _, s := range settings() {
		out = append(out, s.key)
	}
	return out
}

// invalidConfigError lists every problem Validate found, one a line.
type invalidConfigError struct{ err error }

func (e *invalidConfigError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, line := range strings.Split(e.err.Error(), "\n") {
		b.WriteString("\n  - " + line)
	}
	return b.String()
}

func (e *invalidConfigError) Unwrap() error { return e.err }

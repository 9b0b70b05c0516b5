package main

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
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
	fs.String("dummy-interface", d.DummyInterface, "dummy link `NAME` that holds the ClusterIPs")
	fs.StringSlice("node-port-addresses", d.NodePortAddresses, "`CIDRs` whose node addresses get NodePorts; empty means every node address")
	fs.String("cluster-cidr", d.ClusterCIDR, "pod `CIDR` (one per family, comma separated); ClusterIP traffic from outside it is masqueraded")
	fs.Bool("masquerade-all", d.MasqueradeAll, "masquerade all traffic sent to ClusterIPs")
	fs.Int("masquerade-bit", d.MasqueradeBit, "fwmark `BIT` (0-31) that marks packets for masquerade")
	fs.Duration("min-sync-period", d.MinSyncPeriod, "least time between two syncs")
	fs.Duration("sync-period", d.SyncPeriod, "time between full resyncs")
	fs.String("log-format", d.LogFormat, "log `FORMAT`: text or json")
	fs.IntP("verbosity", "v", d.Verbosity, "log `LEVEL` (0 = changes are not logged, 2 = every change); --v works too")
	fs.String("healthz-address", d.HealthzAddress, "`HOST:PORT` serving /healthz and /livez; empty disables it")
	fs.String("metrics-address", d.MetricsAddress, "`HOST:PORT` serving /metrics; empty disables it")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "v" {
			name = "verbosity"
		}
		return pflag.NormalizedName(name)
	})
}

// loadConfig builds the configuration from, by rising precedence, the
// defaults, the --config file, the IPVS_PROXY_* environment and the flags
// set in fs, and validates it.
func loadConfig(fs *pflag.FlagSet) (v1alpha1.Config, error) {
	v := viper.New()
	defaults := reflect.ValueOf(v1alpha1.Defaults())
	for i, s := range settings() {
		v.SetDefault(s.key, defaults.Field(i).Interface())
	}
	if path, _ := fs.GetString(configFlag); path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return v1alpha1.Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		// Decode the file on its own first, so its mistakes are blamed on it.
		if _, err := decode(v); err != nil {
			return v1alpha1.Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	for _, s := range settings() {
		if err := v.BindEnv(s.key, s.env); err != nil {
			return v1alpha1.Config{}, err
		}
		if f := fs.Lookup(s.flag); f != nil {
			if err := v.BindPFlag(s.key, f); err != nil {
				return v1alpha1.Config{}, err
			}
		}
	}
	cfg, err := decode(v)
	if err != nil {
		return v1alpha1.Config{}, fmt.Errorf("environment %s*: %w", envPrefix, err)
	}
	if err := cfg.Validate(); err != nil {
		return v1alpha1.Config{}, &invalidConfigError{err}
	}
	return cfg, nil
}

// decode unmarshals what v holds now, refusing keys Config does not have.
func decode(v *viper.Viper) (v1alpha1.Config, error) {
	var (
		cfg v1alpha1.Config
		md  mapstructure.Metadata
	)
	err := v.Unmarshal(&cfg, func(c *mapstructure.DecoderConfig) {
		c.Metadata = &md
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToListHook,
		)
	})
	if err != nil {
		// Drop mapstructure's "decoding failed due to the following error(s)" preamble.
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			err = errors.Join(joined.Unwrap()...)
		}
		return cfg, err
	}
	if len(md.Unused) > 0 {
		slices.Sort(md.Unused)
		return cfg, fmt.Errorf("unknown key(s) %q; known keys are %s", md.Unused, strings.Join(keys(), ", "))
	}
	return cfg, nil
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

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ipvs-proxy/ipvs-proxy/api/v1alpha1"
)

// cleanEnv blanks every IPVS_PROXY_* variable (viper ignores empty ones) and
// fixes NODE_NAME, so the defaults do not depend on the machine.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, s := range settings() {
		t.Setenv(s.env, "")
	}
	t.Setenv("NODE_NAME", "default-node")
}

func configFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String(configFlag, "", "")
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettingsNames(t *testing.T) {
	want := map[string]setting{
		"nodeName":          {"nodeName", "node-name", "IPVS_PROXY_NODE_NAME"},
		"clusterCIDR":       {"clusterCIDR", "cluster-cidr", "IPVS_PROXY_CLUSTER_CIDR"},
		"nodePortAddresses": {"nodePortAddresses", "node-port-addresses", "IPVS_PROXY_NODE_PORT_ADDRESSES"},
		"minSyncPeriod":     {"minSyncPeriod", "min-sync-period", "IPVS_PROXY_MIN_SYNC_PERIOD"},
		"kubeconfig":        {"kubeconfig", "kubeconfig", "IPVS_PROXY_KUBECONFIG"},
	}
	fs := configFlags(t)
	for _, s := range settings() {
		if w, ok := want[s.key]; ok && s != w {
			t.Errorf("setting %s = %+v, want %+v", s.key, s, w)
		}
		if fs.Lookup(s.flag) == nil {
			t.Errorf("config key %s has no flag --%s", s.key, s.flag)
		}
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	file := `nodeName: file-node
scheduler: wrr
minSyncPeriod: 2s
syncPeriod: 1m
nodePortAddresses: [192.168.0.0/16]
masqueradeAll: true
verbosity: 1
`
	defaults := v1alpha1.Defaults()
	defaults.NodeName = "default-node"
	fromFile := defaults
	fromFile.NodeName = "file-node"
	fromFile.Scheduler = "wrr"
	fromFile.MinSyncPeriod = 2 * time.Second
	fromFile.SyncPeriod = time.Minute
	fromFile.NodePortAddresses = []string{"192.168.0.0/16"}
	fromFile.MasqueradeAll = true
	fromFile.Verbosity = 1

	tests := []struct {
		name  string
		file  bool
		env   map[string]string
		args  []string
		patch func(*v1alpha1.Config)
		base  v1alpha1.Config
	}{{
		name: "defaults",
		base: defaults,
	}, {
		name: "file only",
		file: true,
		base: fromFile,
	}, {
		name: "env over file",
		file: true,
		env: map[string]string{
			"IPVS_PROXY_NODE_NAME":           "env-node",
			"IPVS_PROXY_MIN_SYNC_PERIOD":     "3s",
			"IPVS_PROXY_NODE_PORT_ADDRESSES": "10.0.0.0/8, 172.16.0.0/12",
			"IPVS_PROXY_MASQUERADE_ALL":      "false",
			"IPVS_PROXY_MASQUERADE_BIT":      "14",
		},
		base: fromFile,
		patch: func(c *v1alpha1.Config) {
			c.NodeName = "env-node"
			c.MinSyncPeriod = 3 * time.Second
			c.NodePortAddresses = []string{"10.0.0.0/8", "172.16.0.0/12"}
			c.MasqueradeAll = false
			c.MasqueradeBit = 14
		},
	}, {
		name: "flag over env, unset flags do not override",
		file: true,
		env:  map[string]string{"IPVS_PROXY_NODE_NAME": "env-node", "IPVS_PROXY_SCHEDULER": "lc"},
		args: []string{"--node-name=flag-node", "--node-port-addresses=10.1.0.0/16", "--min-sync-period=5s", "--v=3"},
		base: fromFile,
		patch: func(c *v1alpha1.Config) {
			c.NodeName = "flag-node"
			c.Scheduler = "lc"
			c.NodePortAddresses = []string{"10.1.0.0/16"}
			c.MinSyncPeriod = 5 * time.Second
			c.Verbosity = 3
		},
	}, {
		name: "flags without a file",
		args: []string{"-v", "2", "--masquerade-all", "--cluster-cidr=10.244.0.0/16", "--log-format=json"},
		base: defaults,
		patch: func(c *v1alpha1.Config) {
			c.Verbosity = 2
			c.MasqueradeAll = true
			c.ClusterCIDR = "10.244.0.0/16"
			c.LogFormat = "json"
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.file {
				args = append([]string{"--config", writeFile(t, file)}, args...)
			}
			got, _, err := loadConfig(configFlags(t, args...))
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			want := tt.base
			want.NodePortAddresses = append([]string(nil), want.NodePortAddresses...)
			if tt.patch != nil {
				tt.patch(&want)
			}
			if len(got.NodePortAddresses) == 0 && len(want.NodePortAddresses) == 0 {
				got.NodePortAddresses, want.NodePortAddresses = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // "" means no --config
		env  map[string]string
		args []string
		want []string // substrings; "FILE" stands for the config file
	}{{
		name: "YAML syntax",
		file: "nodeName: [a\n",
		want: []string{"config file FILE:"},
	}, {
		name: "unknown key",
		file: "nodeName: a\nschedular: rr\nfoo: {bar: 1}\n",
		want: []string{"config file FILE:", `unknown key(s) ["foo" "schedular"]`},
	}, {
		name: "wrong type in the file",
		file: "minSyncPeriod: soon\n",
		want: []string{"config file FILE:", "minSyncPeriod", "invalid duration"},
	}, {
		name: "missing file",
		args: []string{"--config", "/nonexistent/ipvs-proxy.yaml"},
		want: []string{"config file /nonexistent/ipvs-proxy.yaml:"},
	}, {
		name: "wrong type in the environment",
		env:  map[string]string{"IPVS_PROXY_MASQUERADE_BIT": "high"},
		want: []string{"environment IPVS_PROXY_MASQUERADE_BIT: masqueradeBit: "},
	}, {
		name: "every Validate problem at once",
		file: "scheduler: fastest\nnodePortAddresses: [nowhere]\n",
		env:  map[string]string{"IPVS_PROXY_LOG_FORMAT": "xml"},
		args: []string{"--masquerade-bit=40", "--sync-period=0s"},
		want: []string{
			"invalid configuration:\n  - ",
			`  - scheduler: "fastest" is not one of`,
			`  - nodePortAddresses: "nowhere" is not a CIDR`,
			"  - masqueradeBit: 40 is not in 0-31",
			"  - syncPeriod: 0s must be positive",
			`  - logFormat: "xml" is not text or json`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
				args = append([]string{"--config", path}, args...)
			}
			_, _, err := loadConfig(configFlags(t, args...))
			if err == nil {
				t.Fatal("loadConfig succeeded, want an error")
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Type errors (file and environment) and value errors come in one report,
// each named once: a value that does not decode is not also judged invalid.
func TestLoadConfigReportsTypeAndValueErrorsTogether(t *testing.T) {
	cleanEnv(t)
	t.Setenv("IPVS_PROXY_SYNC_PERIOD", "often")
	t.Setenv("IPVS_PROXY_NODE_PORT_ADDRESSES", "10.0.0.0/8")
	path := writeFile(t, "minSyncPeriod: soon\nmasqueradeBit: [1]\nscheduler: fastest\nclusterCIDR: 10.0.0.0/8,10.1.0.0/16\nschedular: rr\n")
	_, _, err := loadConfig(configFlags(t, "--config", path, "--healthz-address", "0.0.0.0"))
	if err == nil {
		t.Fatal("loadConfig succeeded, want an error")
	}
	want := []string{
		"invalid configuration:",
		"  - config file " + path + ": masqueradeBit: ",
		"  - config file " + path + ": minSyncPeriod: ",
		"  - config file " + path + `: unknown key(s) ["schedular"]`,
		"  - environment IPVS_PROXY_SYNC_PERIOD: syncPeriod: ",
		`  - scheduler: "fastest" is not one of`,
		"  - clusterCIDR: 10.0.0.0/8 and 10.1.0.0/16 are of one family",
		`  - healthzAddress: "0.0.0.0" is not HOST:PORT`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q:\n%s", w, msg)
		}
	}
	if got := strings.Count(msg, "\n  - "); got != len(want)-1 {
		t.Errorf("error lists %d problems, want %d:\n%s", got, len(want)-1, msg)
	}
	// The broken periods were judged by their defaults, not as zero.
	if strings.Contains(msg, "must be positive") {
		t.Errorf("a value that did not decode was also reported as invalid:\n%s", msg)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := unknownEnv([]string{
		"PATH=/bin",
		"IPVS_PROXY_SCHEDULER=rr",
		"IPVS_PROXY_SCHEDULAR=wrr",
		"IPVS_PROXY_NODENAME=x",
		"IPVS_PROXY_COLOUR=blue",
		"IPVS_PROXY_=",
	})
	want := []string{
		"environment variable IPVS_PROXY_ is not a setting and is ignored (known: IPVS_PROXY_*, see --help)",
		"environment variable IPVS_PROXY_COLOUR is not a setting and is ignored (known: IPVS_PROXY_*, see --help)",
		"environment variable IPVS_PROXY_NODENAME is not a setting and is ignored (known: IPVS_PROXY_*, see --help); did you mean IPVS_PROXY_NODE_NAME?",
		"environment variable IPVS_PROXY_SCHEDULAR is not a setting and is ignored (known: IPVS_PROXY_*, see --help); did you mean IPVS_PROXY_SCHEDULER?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("unknownEnv =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// plan shows the warning on stderr and goes on.
func TestPlanWarnsUnknownEnv(t *testing.T) {
	cleanEnv(t)
	t.Setenv("IPVS_PROXY_SCHEDULAR", "wrr")
	var out, errOut strings.Builder
	code := execute([]string{"plan", "-f", examples + "/web-nodeport.yaml", "--node-name", "node-a"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, errOut.String())
	}
	if w := "warning: environment variable IPVS_PROXY_SCHEDULAR is not a setting"; !strings.Contains(errOut.String(), w) {
		t.Errorf("stderr %q does not contain %q", errOut.String(), w)
	}
}

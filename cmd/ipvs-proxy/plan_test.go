package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

const examples = "../../examples/plan"

// runCommand runs the command line in-process.
func runCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cleanEnv(t)
	var out, errOut bytes.Buffer
	code = execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
		stderr []string // substrings expected on stderr; none means stderr is empty
	}{{
		golden: "web-nodeport",
		args:   []string{"-f", examples + "/web-nodeport.yaml", "--node-name", "node-a"},
	}, {
		golden: "web-nodeport-multi",
		args:   []string{"-f", examples + "/web-nodeport-multi.yaml", "--node-name", "node-a"},
	}, {
		golden: "parity",
		args:   []string{"-f", examples + "/parity.yaml", "--node-name", "node-z", "--detect-local-mode", "NodeCIDR"},
		stderr: []string{"skipping: Service default/web-local: EndpointSlice default/web-local-0: endpoint address 239.1.1.1 is multicast (skipped)"},
	}, {
		golden: "web-loadbalancer",
		args:   []string{"-f", examples + "/web-loadbalancer.yaml", "--node-name", "node-a", "--node-addresses", "192.168.1.10"},
	}, {
		golden: "examples-folder",
		args:   []string{"-f", examples, "--node-name", "node-a"},
		stderr: []string{"warning: Service default/web-nodeport and Service default/web-nodeport-multi both want virtual server TCP 192.168.1.10:30080; Service default/web-nodeport has them",
			"239.1.1.1 is multicast"},
	}}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, append([]string{"plan"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
			}
			if len(tt.stderr) == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
			path := filepath.Join("testdata", tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if stdout != string(want) {
				t.Errorf("stdout differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, stdout, want)
			}
		})
	}
}

// Objects of the tests below.
const (
	goodService = `apiVersion: v1
kind: Service
metadata: {name: good, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
`
	goodSlice = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: good-1
  namespace: default
  labels: {kubernetes.io/service-name: good}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
- addresses: [10.244.0.5]
- addresses: [not-an-ip]
`
	nodeA = `apiVersion: v1
kind: Node
metadata: {name: node-a}
status:
  addresses: [{type: InternalIP, address: 192.168.1.10}, {type: Hostname, address: node-a}]
`
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		args   []string // after plan -f DIR
		code   int
		stdout []string // substrings
		absent []string // substrings stdout must not hold
		stderr []string // substrings; "DIR" stands for the temp dir
	}{{
		name: "malformed YAML names the file and the document",
		files: map[string]string{"in.yaml": goodService + "---\n" + nodeA + "---\n" +
			"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}}\n"},
		args:   []string{"--node-name", "node-a"},
		code:   1,
		stderr: []string{"ipvs-proxy: DIR/in.yaml: document 3: "},
	}, {
		name:   "a field of the wrong type",
		files:  map[string]string{"in.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: \"80\"}]}\n"},
		args:   []string{"--node-name", "node-a"},
		code:   1,
		stderr: []string{"DIR/in.yaml: document 1: v1 Service x: ", "int32"},
	}, {
		name: "invalid objects are skipped, the others planned",
		files: map[string]string{"in.yaml": goodService + "---\n" + goodSlice + "---\n" + nodeA + `---
apiVersion: v1
kind: Service
metadata: {name: bad-port}
spec: {type: NodePort, clusterIP: 10.96.0.20, ports: [{port: 80, nodePort: 99999}]}
---
apiVersion: v1
kind: Service
metadata: {name: bad-ip}
spec: {clusterIP: banana, ports: [{port: 80}]}
`},
		args: []string{"--node-name", "node-a"},
		stdout: []string{
			"-A -t 10.96.0.10:80 -s rr",
			"-a -t 10.96.0.10:80 -r 10.244.0.5:8080 -m -w 1",
			"-A -t 192.168.1.10:30080 -s rr",
			"-a -t 192.168.1.10:30080 -r 10.244.0.5:8080 -m -w 1",
		},
		absent: []string{"10.96.0.20", "banana", "not-an-ip"},
		stderr: []string{
			"skipping: Service default/bad-ip: clusterIP \"banana\" is not an IP address",
			"skipping: Service default/bad-port: port #0: nodePort 99999 is not in 1-65535",
			"skipping: Service default/good: EndpointSlice default/good-1: endpoint address \"not-an-ip\" is not an IP address",
		},
	}, {
		name: "other kinds are skipped with a note",
		files: map[string]string{"in.yaml": goodService + "---\n" + nodeA +
			"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"},
		args:   []string{"--node-name", "node-a"},
		stdout: []string{"-A -t 10.96.0.10:80 -s rr"},
		stderr: []string{"DIR/in.yaml: document 3: skipping apps/v1 Deployment web"},
	}, {
		name:   "--node-addresses replace the Node's",
		files:  map[string]string{"in.yaml": goodService + "---\n" + goodSlice + "---\n" + nodeA},
		args:   []string{"--node-name", "node-a", "--node-addresses", "10.0.0.7,127.0.0.1"},
		stdout: []string{"-A -t 10.0.0.7:30080 -s rr"},
		absent: []string{"192.168.1.10", "127.0.0.1"},
	}, {
		name:   "--node-port-addresses filter the Node's addresses",
		files:  map[string]string{"in.yaml": goodService + "---\n" + nodeA},
		args:   []string{"--node-name", "node-a", "--node-port-addresses", "10.0.0.0/8"},
		stdout: []string{"-A -t 10.96.0.10:80 -s rr"},
		absent: []string{"192.168.1.10"},
		stderr: []string{"no node address of [192.168.1.10] is eligible for NodePorts"},
	}, {
		name:   "an external IP that is a node address outside --node-port-addresses is not bound (kube-proxy's nodeAddressSet)",
		files:  map[string]string{"in.yaml": goodService + "  externalIPs: [192.168.1.10, 203.0.113.7]\n---\n" + nodeA},
		args:   []string{"--node-name", "node-a", "--node-port-addresses", "10.0.0.0/8"},
		stdout: []string{"-A -t 192.168.1.10:80 -s rr", "-A -t 203.0.113.7:80 -s rr", "\n203.0.113.7/32\n", "add IPVS-PROXY-IPS 203.0.113.7\n"},
		absent: []string{"192.168.1.10/32", "IPVS-PROXY-IPS 192.168.1.10", "192.168.1.10:30080"},
	}, {
		name:   "node not in the inputs",
		files:  map[string]string{"in.yaml": goodService + "---\n" + nodeA},
		args:   []string{"--node-name", "node-z"},
		code:   1,
		stderr: []string{"ipvs-proxy: node node-z not found in the inputs; give --node-addresses"},
	}, {
		name:   "bad --node-addresses",
		files:  map[string]string{"in.yaml": goodService},
		args:   []string{"--node-name", "node-a", "--node-addresses", "10.0.0.300"},
		code:   1,
		stderr: []string{"ipvs-proxy: --node-addresses: "},
	}, {
		name:   "invalid configuration",
		files:  map[string]string{"in.yaml": goodService + "---\n" + nodeA},
		args:   []string{"--node-name", "node-a", "--scheduler", "fastest", "--log-format", "xml"},
		code:   1,
		stderr: []string{"invalid configuration:", `scheduler: "fastest"`, `logFormat: "xml"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, stderr := runCommand(t, append([]string{"plan", "-f", dir}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.absent {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout contains %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if w = strings.ReplaceAll(w, "DIR", dir); !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if tt.code != 0 && strings.Count(stderr, "ipvs-proxy: ") != 1 {
				t.Errorf("the error is not printed exactly once:\n%s", stderr)
			}
		})
	}
}

func TestPlanNeedsFiles(t *testing.T) {
	code, _, stderr := runCommand(t, "plan", "--node-name", "node-a")
	if code != 1 || !strings.Contains(stderr, `"filename"`) {
		t.Errorf("exit code %d, stderr %q; want 1 and a word about --filename", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCommand(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "ipvs-proxy ") {
		t.Errorf("version: exit code %d, stdout %q", code, stdout)
	}
}

package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	service = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80}]
`
	slice = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-x
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5]}]
`
	node = `apiVersion: v1
kind: Node
metadata: {name: node-a}
status:
  addresses: [{type: InternalIP, address: 192.168.1.10}]
`
	deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 1}
`
)

// summary lists what was loaded as "Kind namespace/name" lines.
func summary(o Objects) []string {
	var out []string
	for _, s := range o.Services {
		out = append(out, "Service "+s.Namespace+"/"+s.Name)
	}
	for _, s := range o.Slices {
		out = append(out, "EndpointSlice "+s.Namespace+"/"+s.Name)
	}
	for _, n := range o.Nodes {
		out = append(out, "Node "+n.Name)
	}
	return out
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		paths []string // relative to the temp dir; "." is the folder
		want  []string
		notes []string // with the temp dir stripped
	}{{
		name:  "multi-document YAML with empty documents",
		files: map[string]string{"a.yaml": "---\n" + service + "---\n# nothing\n---\n" + slice + "---\n" + node},
		paths: []string{"a.yaml"},
		want:  []string{"Service prod/web", "EndpointSlice default/web-x", "Node node-a"},
	}, {
		name:  "other kinds are skipped with a note",
		files: map[string]string{"a.yaml": service + "---\n" + deployment},
		paths: []string{"a.yaml"},
		want:  []string{"Service prod/web"},
		notes: []string{"a.yaml: document 2: skipping apps/v1 Deployment web"},
	}, {
		name: "JSON file",
		files: map[string]string{"a.json": `{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
			"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}`},
		paths: []string{"a.json"},
		want:  []string{"Node n1"},
	}, {
		name: "List with items",
		files: map[string]string{"a.yaml": `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: n1}}
- {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds}}
- {apiVersion: v1, kind: Service, metadata: {name: s1}, spec: {clusterIP: 10.96.0.1, ports: [{port: 53, protocol: UDP}]}}
`},
		paths: []string{"a.yaml"},
		want:  []string{"Service default/s1", "Node n1"},
		notes: []string{"a.yaml: document 1, item 2: skipping apps/v1 DaemonSet ds"},
	}, {
		name: "folder: manifest files only, sorted, not recursive",
		files: map[string]string{
			"b.yml":      node,
			"a.yaml":     service,
			"c.json":     `{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}`,
			"README.md":  "# not a manifest",
			"notes.txt":  "apiVersion: [",
			"zz.yaml.gz": "binary",
		},
		paths: []string{"."},
		want:  []string{"Service prod/web", "Node node-a", "Node n2"},
	}, {
		name:  "several paths in order",
		files: map[string]string{"1.yaml": node, "2.yaml": slice},
		paths: []string{"2.yaml", "1.yaml"},
		want:  []string{"EndpointSlice default/web-x", "Node node-a"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.files)
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "sub"), map[string]string{"deep.yaml": deployment})
			var paths []string
			for _, p := range tt.paths {
				paths = append(paths, filepath.Join(dir, p))
			}
			objs, notes, err := Load(paths)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := summary(objs); !slices.Equal(got, tt.want) {
				t.Errorf("objects = %q, want %q", got, tt.want)
			}
			var gotNotes []string
			for _, n := range notes {
				gotNotes = append(gotNotes, strings.TrimPrefix(n.String(), dir+string(filepath.Separator)))
			}
			if !slices.Equal(gotNotes, tt.notes) {
				t.Errorf("notes = %q, want %q", gotNotes, tt.notes)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // file name in the temp dir
		content string
		want    []string // substrings of the error, after "FILE: "
	}{{
		name:    "YAML syntax",
		file:    "a.yaml",
		content: service + "---\napiVersion: v1\nkind: Service\nmetadata: {name: [\n",
		want:    []string{"document 2:", "yaml"},
	}, {
		name:    "no kind",
		file:    "a.yaml",
		content: node + "---\n" + service + "---\napiVersion: v1\nmetadata: {name: x}\n",
		want:    []string{"document 3: kind is not set"},
	}, {
		name:    "no apiVersion nor kind",
		file:    "a.yaml",
		content: "foo: bar\n",
		want:    []string{"document 1: apiVersion and kind are not set"},
	}, {
		name:    "not an object",
		file:    "a.yaml",
		content: "- just\n- a list\n",
		want:    []string{"document 1: not a Kubernetes object"},
	}, {
		name:    "field of the wrong type",
		file:    "a.yaml",
		content: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: eighty}]\n",
		want:    []string{"document 1: v1 Service web:", "spec.ports.port", "int32"},
	}, {
		name:    "unknown field",
		file:    "a.yaml",
		content: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, nodeport: 30080}]\n",
		want:    []string{"document 1: v1 Service web:", `unknown field "spec.ports[0].nodeport"`},
	}, {
		name:    "wrong type in a List item",
		file:    "a.yaml",
		content: "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: n1}, status: {addresses: 3}}\n",
		want:    []string{"document 1, item 1: v1 Node n1:", "status.addresses"},
	}, {
		name:    "JSON syntax",
		file:    "a.json",
		content: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Node\",,\n}\n",
		want:    []string{"document 1: invalid JSON at line 3"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{tt.file: tt.content})
			path := filepath.Join(dir, tt.file)
			_, _, err := Load([]string{path})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the file name %q", msg, path)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadPathErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"README.md": "hi"})
	for _, p := range []string{filepath.Join(dir, "missing.yaml"), dir} {
		if _, _, err := Load([]string{p}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Load(%s) error = %v, want one naming the path", p, err)
		}
	}
}

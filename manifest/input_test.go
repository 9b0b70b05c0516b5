package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A last line with no newline whose length is a multiple of 4096 (the line
// buffer of the API machinery's YAML reader) used to lose the last document.
func TestLoadLongLastLine(t *testing.T) {
	for _, n := range []int{4095, 4096, 8192, 3 * 4096, 70000} {
		// The last line is "metadata: {name: n2, annotations: {a: xxx}}" padded to n bytes.
		head := "metadata: {name: n2, annotations: {a: "
		tail := "}}"
		last := head + strings.Repeat("x", n-len(head)-len(tail)) + tail
		if len(last) != n {
			t.Fatalf("line is %d bytes, want %d", len(last), n)
		}
		content := node + "---\napiVersion: v1\nkind: Node\n" + last
		dir := t.TempDir()
		write(t, dir, map[string]string{"a.yaml": content})
		objs, _, err := Load([]string{filepath.Join(dir, "a.yaml")})
		if err != nil {
			t.Fatalf("line of %d bytes: %v", n, err)
		}
		if got, want := summary(objs), []string{"Node node-a", "Node n2"}; !slices.Equal(got, want) {
			t.Errorf("line of %d bytes: objects = %q, want %q", n, got, want)
		}
	}
}

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "a: 1", want: []string{"a: 1"}},
		// A leading separator opens the document (YAML's own marker).
		{in: "---\na: 1\n", want: []string{"---\na: 1\n"}},
		{in: "a: 1\n---\nb: 2", want: []string{"a: 1\n", "b: 2"}},
		{in: "a: 1\n--- # two\nb: 2\n---\n", want: []string{"a: 1\n", "b: 2\n"}},
		{in: "a: 1\r\n---\r\nb: 2\r\n", want: []string{"a: 1\r\n", "b: 2\r\n"}},
		// Two separators in a row: the second opens the next document.
		{in: "a: 1\n---\n---\nb: 2\n", want: []string{"a: 1\n", "---\nb: 2\n"}},
		{in: "a: 1\n---", want: []string{"a: 1\n"}},
		{in: "---", want: nil},
		// Indented dashes are content.
		{in: "a: |\n  ---\n", want: []string{"a: |\n  ---\n"}},
		// Text after the dashes is refused, as kubectl refuses it.
		{in: "a: 1\n--- b\n", want: []string{}, err: "line 2: invalid YAML document separator: b"},
		{in: "a: 1\n---\nb: 1\n---x: 1\n", want: []string{"a: 1\n"}, err: "line 4: invalid YAML document separator: x: 1"},
	}
	for _, tt := range tests {
		docs, err := splitYAML([]byte(tt.in))
		var got []string
		for _, d := range docs {
			got = append(got, string(d))
		}
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("splitYAML(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if len(got) > 0 || len(tt.want) > 0 {
				if !slices.Equal(got, tt.want) {
					t.Errorf("splitYAML(%q) = %q before the error, want %q", tt.in, got, tt.want)
				}
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitYAML(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A mounted ConfigMap: every key is a symlink to ..data/KEY, ..data a symlink
// to a timestamped folder.
func TestLoadFolderFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_11_30_08_00_00.1234")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, ts, map[string]string{"service.yaml": service, "node.yaml": node, "sub.yaml": slice})
	must(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/service.yaml", filepath.Join(dir, "service.yaml")))
	must(t, os.Symlink("..data/node.yaml", filepath.Join(dir, "node.yaml")))
	// A symlink to a folder, even one named like a manifest, is not entered.
	must(t, os.Mkdir(filepath.Join(dir, "other"), 0o755))
	write(t, filepath.Join(dir, "other"), map[string]string{"x.yaml": deployment})
	must(t, os.Symlink("other", filepath.Join(dir, "folder.yaml")))

	objs, notes, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(objs), []string{"Service prod/web", "Node node-a"}; !slices.Equal(got, want) {
		t.Errorf("objects = %q, want %q", got, want)
	}
	if len(notes) != 0 {
		t.Errorf("notes = %v, want none", notes)
	}

	// A dangling symlink is named, not skipped.
	must(t, os.Symlink("..data/gone.yaml", filepath.Join(dir, "gone.yaml")))
	if _, _, err := Load([]string{dir}); err == nil || !strings.Contains(err.Error(), "gone.yaml") {
		t.Errorf("Load with a dangling symlink: error = %v, want one naming gone.yaml", err)
	}
}

func TestLoadStdin(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"n.yaml": node})
	l := Loader{Stdin: strings.NewReader(service + "---\n" + deployment)}
	objs, notes, err := l.Load([]string{filepath.Join(dir, "n.yaml"), "-"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(objs), []string{"Service prod/web", "Node node-a"}; !slices.Equal(got, want) {
		t.Errorf("objects = %q, want %q", got, want)
	}
	if len(notes) != 1 || notes[0].String() != "<stdin>: document 2: skipping apps/v1 Deployment web" {
		t.Errorf("notes = %q", notes)
	}

	// JSON on stdin (YAML is a superset).
	l = Loader{Stdin: strings.NewReader(`{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}`)}
	if objs, _, err = l.Load([]string{"-"}); err != nil || len(objs.Nodes) != 1 {
		t.Errorf("JSON on stdin: %d nodes, error %v", len(objs.Nodes), err)
	}

	// Errors name <stdin>.
	l = Loader{Stdin: strings.NewReader("apiVersion: v1\nmetadata: {}\n")}
	if _, _, err := l.Load([]string{"-"}); err == nil || err.Error() != "<stdin>: document 1: kind is not set" {
		t.Errorf("error = %v", err)
	}

	// Twice is refused: the second read would see nothing.
	l = Loader{Stdin: strings.NewReader(node)}
	if _, _, err := l.Load([]string{"-", "-"}); err == nil || err.Error() != "<stdin>: given more than once" {
		t.Errorf("stdin twice: error = %v", err)
	}
}

func TestLoadSizeLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.yaml")
	write(t, dir, map[string]string{"big.yaml": node + strings.Repeat("# padding\n", 200)})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly at the limit is fine.
	if _, _, err := (Loader{MaxBytes: fi.Size()}).Load([]string{path}); err != nil {
		t.Errorf("file of exactly MaxBytes: %v", err)
	}
	_, _, err = Loader{MaxBytes: 1024}.Load([]string{path})
	var tl *TooLargeError
	if !errors.As(err, &tl) || err.Error() != path+": larger than 1 KiB, the most one input may hold" {
		t.Errorf("error = %v, want a TooLargeError naming the file", err)
	}
	_, _, err = Loader{MaxBytes: 1000, Stdin: strings.NewReader(strings.Repeat("#\n", 501))}.Load([]string{"-"})
	if err == nil || err.Error() != "<stdin>: larger than 1000 bytes, the most one input may hold" {
		t.Errorf("stdin error = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

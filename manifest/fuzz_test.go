package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ipvs-proxy/ipvs-proxy/desired"
	"github.com/ipvs-proxy/ipvs-proxy/ledger"
)

func addSeeds(f *testing.F) {
	for _, s := range []string{service, slice, node, deployment, service + "---\n" + slice + "---\n" + node,
		"apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(node), "\n", "\n  ") + "\n",
		"---\n--- # c\n---x\n", "a: 1\r\n---\r\nb: 2"} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("../examples/plan/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzLoad: Load never panics, gives the same result twice, names <stdin>
// in its errors, and what it loads plans well: every real server under a
// virtual server that the ledger records.
func FuzzLoad(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return // YAML's cost grows fast with size; small inputs reach every branch
		}
		load := func() (Objects, []Note, error) {
			return Loader{Stdin: bytes.NewReader(b), MaxBytes: 1 << 20}.Load([]string{Stdin})
		}
		objs, notes, err := load()
		objs2, notes2, err2 := load()
		if fmt.Sprint(summary(objs), notes, err) != fmt.Sprint(summary(objs2), notes2, err2) {
			t.Fatalf("Load is not deterministic:\n%v %v %v\n%v %v %v", summary(objs), notes, err, summary(objs2), notes2, err2)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "<stdin>: ") {
				t.Fatalf("error %q (%T) does not name the input", err, err)
			}
			return
		}
		for _, n := range notes {
			if n.File != "<stdin>" || n.Doc < 1 {
				t.Fatalf("note %v", n)
			}
		}
		st, _ := desired.Build(desired.Input{
			Services: objs.Services, Slices: objs.Slices,
			NodeAddresses: []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("fd00:1::10")},
		}, desired.Options{Scheduler: "rr", NodeName: "node-a"})
		own := ledger.Read(st.Members)
		for k, svc := range st.Services {
			if !own.OwnsService(k) || svc.Key != k {
				t.Fatalf("virtual server %v: not in the ledger, or under another key", k)
			}
			for rs := range svc.RealServers.All() {
				rk := rs.RealServerKey
				if !rk.Address.IsValid() || rk.Port == 0 || rk.Address.Is4() != k.Address.Is4() {
					t.Fatalf("real server %v under %v", rk, k)
				}
			}
		}
	})
}

// FuzzSplitYAML: our splitter agrees with the API machinery's YAML reader
// wherever that one is right (every line ends in a newline and is shorter
// than its 4096-byte buffer), and never loses a byte that is not a separator.
func FuzzSplitYAML(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := splitYAML(b)
		// Every byte is in a document or a separator line, in order (the
		// documents are slices of the input: their capacity tells where).
		end := 0
		for _, d := range docs {
			start := cap(b) - cap(d)
			if start < end || start+len(d) > len(b) {
				t.Fatalf("document %q at %d, after %d", d, start, end)
			}
			checkOnlySeparators(t, b[end:start])
			end = start + len(d)
		}
		if err == nil {
			checkOnlySeparators(t, b[end:])
		}

		lines := bytes.SplitAfter(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			return
		}
		for _, l := range lines {
			if len(l) >= 4096 {
				return
			}
		}
		var (
			want    [][]byte
			wantErr error
		)
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			d, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				wantErr = err
				break
			}
			want = append(want, d)
		}
		// Its line reader drops the '\r' of a "\r\n", which YAML ignores anyway.
		crlf := func(a, b []byte) bool { return bytes.Equal(bytes.ReplaceAll(a, []byte("\r\n"), []byte("\n")), b) }
		if !slices.EqualFunc(docs, want, crlf) || (err == nil) != (wantErr == nil) {
			t.Fatalf("splitYAML(%q) = %q, %v; the API machinery reads %q, %v", b, docs, err, want, wantErr)
		}
	})
}

// checkOnlySeparators fails unless b is nothing but separator lines.
func checkOnlySeparators(t *testing.T, b []byte) {
	t.Helper()
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) > 0 && !isSeparator(l) {
			t.Fatalf("bytes %q between documents are not a separator line", l)
		}
	}
}

// isSeparator: "---" then nothing but blanks or a comment.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	t := bytes.TrimSpace(rest)
	return ok && (len(t) == 0 || t[0] == '#')
}

package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Extensions are the file name extensions read from a folder.
var Extensions = []string{".yaml", ".yml", ".json"}

// Stdin is the path that names the standard input (YAML or JSON documents).
const Stdin = "-"

// DefaultMaxBytes bounds the size of each input file (and of stdin).
const DefaultMaxBytes = 64 << 20

// Loader reads manifests; the zero value reads stdin from os.Stdin and
// bounds every input to DefaultMaxBytes.
type Loader struct {
	// Stdin is read for the path "-" (at most once); nil means os.Stdin.
	Stdin io.Reader
	// MaxBytes bounds each input's size; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Load reads every path with the zero Loader.
func Load(paths []string) (Objects, []Note, error) {
	return Loader{}.Load(paths)
}

// Load reads every path: "-" (the standard input), a file, or a folder whose
// *.yaml, *.yml and *.json files (not those of subfolders; symlinks to files
// are followed, as in a mounted ConfigMap) are read in name order. A YAML
// input may hold several documents separated by "---", and a document may be
// a List. It returns the objects found, a Note per document skipped on
// purpose (an unsupported kind), and the first malformed document or
// unreadable input as an *Error (with the notes up to it).
func (l Loader) Load(paths []string) (Objects, []Note, error) {
	var (
		objs      Objects
		notes     []Note
		stdinRead bool
	)
	for _, p := range paths {
		if p == Stdin {
			if stdinRead {
				return Objects{}, notes, &Error{File: stdinName, Err: errors.New("given more than once")}
			}
			stdinRead = true
			stdin := l.Stdin
			if stdin == nil {
				stdin = os.Stdin
			}
			data, err := l.read(stdinName, stdin)
			if err != nil {
				return Objects{}, notes, err
			}
			n, err := loadData(stdinName, data, false, &objs)
			notes = append(notes, n...)
			if err != nil {
				return Objects{}, notes, err
			}
			continue
		}
		files, err := expand(p)
		if err != nil {
			return Objects{}, notes, err
		}
		for _, f := range files {
			data, err := l.readFile(f)
			if err != nil {
				return Objects{}, notes, err
			}
			n, err := loadData(f, data, strings.EqualFold(filepath.Ext(f), ".json"), &objs)
			notes = append(notes, n...)
			if err != nil {
				return Objects{}, notes, err
			}
		}
	}
	return objs, notes, nil
}

// stdinName names the standard input in notes and errors.
const stdinName = "<stdin>"

func (l Loader) readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer f.Close()
	return l.read(name, f)
}

// read reads all of r, refusing more than MaxBytes.
func (l Loader) read(name string, r io.Reader) ([]byte, error) {
	limit := l.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{File: name, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &Error{File: name, Err: &TooLargeError{Limit: limit}}
	}
	return data, nil
}

// TooLargeError is an input larger than the Loader's MaxBytes.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("larger than %s, the most one input may hold", formatBytes(e.Limit))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// expand returns p itself, or the manifest files directly inside folder p:
// regular files and symlinks to regular files (a folder a symlink points to
// is not entered).
func expand(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p) // sorted by name
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !slices.Contains(Extensions, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		path := filepath.Join(p, e.Name())
		switch {
		case e.Type().IsRegular():
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err) // a dangling link is a mistake worth naming
			}
			if !target.Mode().IsRegular() {
				continue
			}
		default:
			continue
		}
		out = append(out, path)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s files in this folder", p, strings.Join(Extensions, ", "))
	}
	return out, nil
}

// loadData decodes the documents of one input named name.
func loadData(name string, data []byte, isJSON bool, objs *Objects) ([]Note, error) {
	docs := [][]byte{data}
	if !isJSON {
		var err error
		if docs, err = splitYAML(data); err != nil {
			return nil, &Error{File: name, Doc: len(docs) + 1, Err: err}
		}
	}
	var notes []Note
	for i, doc := range docs {
		js, err := toJSON(doc, isJSON)
		if err != nil {
			return notes, &Error{File: name, Doc: i + 1, Err: err}
		}
		if js == nil {
			continue // empty document
		}
		d := decoder{file: name, doc: i + 1, objs: objs}
		if err := d.decode(js); err != nil {
			return notes, err
		}
		notes = append(notes, d.notes...)
	}
	return notes, nil
}

// toJSON converts one YAML or JSON document to JSON; an empty document
// (nothing but blanks and YAML comments) gives nil.
func toJSON(doc []byte, isJSON bool) ([]byte, error) {
	trimmed := bytes.TrimSpace(doc)
	if isJSON {
		if len(trimmed) == 0 {
			return nil, nil
		}
		var v any
		if err := json.Unmarshal(doc, &v); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line := 1 + bytes.Count(doc[:min(se.Offset, int64(len(doc)))], []byte("\n"))
				return nil, fmt.Errorf("invalid JSON at line %d: %w", line, err)
			}
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return trimmed, nil
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(js, []byte("null")) {
		return nil, nil
	}
	return js, nil
}

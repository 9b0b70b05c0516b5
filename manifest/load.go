package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Extensions are the file name extensions read from a folder.
var Extensions = []string{".yaml", ".yml", ".json"}

// Load reads every path: a file, or a folder whose *.yaml, *.yml and *.json
// files (not those of subfolders) are read in name order. A YAML file may
// hold several documents separated by "---", and a document may be a List.
// It returns the objects found, a Note per document skipped on purpose (an
// unsupported kind), and the first malformed document as an *Error (with the
// notes up to it).
func Load(paths []string) (Objects, []Note, error) {
	var (
		objs  Objects
		notes []Note
	)
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return Objects{}, notes, err
		}
		for _, f := range files {
			n, err := loadFile(f, &objs)
			notes = append(notes, n...)
			if err != nil {
				return Objects{}, notes, err
			}
		}
	}
	return objs, notes, nil
}

// expand returns p itself, or the manifest files directly inside folder p.
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
		if e.Type().IsRegular() && slices.Contains(Extensions, strings.ToLower(filepath.Ext(e.Name()))) {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s files in this folder", p, strings.Join(Extensions, ", "))
	}
	return out, nil
}

func loadFile(name string, objs *Objects) ([]Note, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	isJSON := strings.EqualFold(filepath.Ext(name), ".json")
	docs := [][]byte{data}
	if !isJSON {
		if docs, err = splitYAML(name, data); err != nil {
			return nil, err
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

// splitYAML splits a YAML file into its documents on "---" lines.
func splitYAML(name string, data []byte) ([][]byte, error) {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, &Error{File: name, Doc: len(docs) + 1, Err: err}
		}
		docs = append(docs, doc)
	}
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

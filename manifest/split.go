package manifest

import (
	"bytes"
	"fmt"
)

// splitYAML splits a YAML stream into documents exactly as the API
// machinery's YAML reader (what kubectl uses) does, line by line, but over
// the whole input at once: no 4096-byte line buffer, and a last line without
// a newline is kept whatever its length. A line starting with "---" ends the
// document before it; when there is none (the stream's first line, or the
// second of two separators in a row) the line opens the next document
// instead, as YAML's own document-start marker. Text after "---" other than a comment is an
// error, as in kubectl. On error, docs holds the documents before it.
func splitYAML(data []byte) (docs [][]byte, err error) {
	start, end := 0, 0 // the document being read is data[start:end]
	line := 0
	for off := 0; off < len(data); {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		line++
		if rest, ok := bytes.CutPrefix(data[off:next], []byte("---")); ok {
			if t := bytes.TrimSpace(rest); len(t) > 0 && t[0] != '#' {
				return docs, fmt.Errorf("line %d: invalid YAML document separator: %s", line, t)
			}
			if end > start {
				docs = append(docs, data[start:end])
				start, end, off = next, next, next
				continue
			}
			if next == len(data) && data[next-1] != '\n' {
				break // a last separator without a newline opens nothing
			}
		}
		if end == start {
			start = off
		}
		end, off = next, next
	}
	if end > start {
		docs = append(docs, data[start:end])
	}
	return docs, nil
}

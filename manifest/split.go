package manifest

import "bytes"

// splitYAML splits a YAML stream into its documents on "---" lines, the rule
// of the API machinery's YAML reader (a line starting with "---" followed by
// nothing but blanks or a comment), on the whole input at once: no line
// length limit, and the last line counts whether or not it ends in a newline.
func splitYAML(data []byte) [][]byte {
	var (
		docs  [][]byte
		start int
	)
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		if isSeparator(data[off:next]) {
			if off > start {
				docs = append(docs, data[start:off])
			}
			start = next
		}
		off = next
	}
	if start < len(data) {
		docs = append(docs, data[start:])
	}
	return docs
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

package conformance

import (
	"os"
	"strings"
	"testing"
)

// TestCorpus keeps the corpus at 40 shapes or more, with unique names.
// CONFORMANCE_CORPUS_OUT=FILE writes it out (for kubectl apply --dry-run).
func TestCorpus(t *testing.T) {
	shapes := corpus()
	if len(shapes) < 40 {
		t.Errorf("corpus has %d shapes, want at least 40 (issue #9 item 15)", len(shapes))
	}
	seen := map[string]bool{}
	var docs []string
	for _, s := range shapes {
		if seen[s.name] {
			t.Errorf("shape %s twice", s.name)
		}
		seen[s.name] = true
		docs = append(docs, s.docs...)
	}
	for _, c := range changes() {
		docs = append(docs, c.apply...)
	}
	if out := os.Getenv("CONFORMANCE_CORPUS_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

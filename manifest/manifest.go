// Package manifest reads Services, EndpointSlices and Nodes from YAML or JSON
// files, the input of `ipvs-proxy plan`. Other kinds are skipped with a Note;
// malformed input is an error naming the file and the document.
package manifest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Objects are the objects `plan` works on, in input order.
type Objects struct {
	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
	Nodes    []*corev1.Node
}

// Note is something in the input that was skipped on purpose.
type Note struct {
	File string
	// Doc is the 1-based index of the document in File.
	Doc int
	// Item is the 1-based index in a List document, 0 otherwise.
	Item int
	Msg  string
}

func (n Note) String() string {
	return location(n.File, n.Doc, n.Item) + ": " + n.Msg
}

// Error is malformed input: the file, the document and what is wrong.
type Error struct {
	File string
	Doc  int // 1-based; 0 when the file as a whole is at fault
	Item int // 1-based index in a List document, 0 otherwise
	Err  error
}

func (e *Error) Error() string {
	if e.Doc == 0 {
		return e.File + ": " + e.Err.Error()
	}
	return location(e.File, e.Doc, e.Item) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func location(file string, doc, item int) string {
	s := fmt.Sprintf("%s: document %d", file, doc)
	if item > 0 {
		s += fmt.Sprintf(", item %d", item)
	}
	return s
}

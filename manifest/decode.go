package manifest

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
)

// decoder turns the JSON of one document into objects and notes.
type decoder struct {
	file  string
	doc   int
	objs  *Objects
	notes []Note
}

// header is what every document is first read as.
type header struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        json.RawMessage `json:"metadata"`
}

// name is metadata.name, if it is a string, for messages.
func (h header) name() string {
	var m struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(h.Metadata, &m)
	return m.Name
}

func (d *decoder) decode(js []byte) error {
	h, err := readHeader(js)
	if err != nil {
		return d.fail(0, err)
	}
	if h.APIVersion != "v1" || h.Kind != "List" {
		return d.object(0, h, js)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &list); err != nil {
		return d.fail(0, fmt.Errorf("v1 List: %w", err))
	}
	for i, item := range list.Items {
		h, err := readHeader(item)
		if err != nil {
			return d.fail(i+1, err)
		}
		if err := d.object(i+1, h, item); err != nil {
			return err
		}
	}
	return nil
}

func readHeader(js []byte) (header, error) {
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		return h, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	switch {
	case h.APIVersion == "" && h.Kind == "":
		return h, errors.New("apiVersion and kind are not set")
	case h.APIVersion == "":
		return h, errors.New("apiVersion is not set")
	case h.Kind == "":
		return h, errors.New("kind is not set")
	}
	return h, nil
}

// object decodes one object (item is its 1-based index in a List, or 0).
func (d *decoder) object(item int, h header, js []byte) error {
	what := h.APIVersion + " " + h.Kind
	if name := h.name(); name != "" {
		what += " " + name
	}
	switch h.APIVersion + " " + h.Kind {
	case "v1 Service":
		var svc corev1.Service
		if err := strict(js, &svc); err != nil {
			return d.fail(item, fmt.Errorf("%s: %w", what, err))
		}
		if svc.Namespace == "" {
			svc.Namespace = metav1.NamespaceDefault
		}
		d.objs.Services = append(d.objs.Services, &svc)
	case "discovery.k8s.io/v1 EndpointSlice":
		var sl discoveryv1.EndpointSlice
		if err := strict(js, &sl); err != nil {
			return d.fail(item, fmt.Errorf("%s: %w", what, err))
		}
		if sl.Namespace == "" {
			sl.Namespace = metav1.NamespaceDefault
		}
		d.objs.Slices = append(d.objs.Slices, &sl)
	case "v1 Node":
		var node corev1.Node
		if err := strict(js, &node); err != nil {
			return d.fail(item, fmt.Errorf("%s: %w", what, err))
		}
		d.objs.Nodes = append(d.objs.Nodes, &node)
	default:
		d.notes = append(d.notes, Note{File: d.file, Doc: d.doc, Item: item, Msg: "skipping " + what})
	}
	return nil
}

// strict decodes js into obj like the API server's strict field validation:
// case-sensitive field names, no unknown or duplicate fields, right types.
func strict(js []byte, obj any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func (d *decoder) fail(item int, err error) error {
	return &Error{File: d.file, Doc: d.doc, Item: item, Err: err}
}

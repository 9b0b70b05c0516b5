package kube

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// Events returns the sink an Event broadcaster records to: core/v1 Events
// in each Event's own namespace, written as client-go's typed
// EventSinkImpl writes them (create, update, strategic-merge patch).
func (c *Client) Events() record.EventSink { return eventSink{c.core} }

type eventSink struct{ c rest.Interface }

func (s eventSink) Create(ev *corev1.Event) (*corev1.Event, error) {
	return s.do(s.c.Post().Namespace(ev.Namespace).Resource("events").Body(ev))
}

func (s eventSink) Update(ev *corev1.Event) (*corev1.Event, error) {
	return s.do(s.c.Put().Namespace(ev.Namespace).Resource("events").Name(ev.Name).Body(ev))
}

func (s eventSink) Patch(ev *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.do(s.c.Patch(types.StrategicMergePatchType).Namespace(ev.Namespace).Resource("events").Name(ev.Name).Body(data))
}

// do runs req, which the broadcaster's own goroutine issues (the sink's
// methods take no context; the broadcaster retries and gives up).
func (eventSink) do(req *rest.Request) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := req.Do(context.Background()).Into(out)
	return out, err
}

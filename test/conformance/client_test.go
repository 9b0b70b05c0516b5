package conformance

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The API calls of the suite go through client-go: kubectl starts in
// seconds under TCG, and the corpus is a hundred objects.
var dyn dynamic.Interface

func connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.admin)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	dyn, err = dynamic.NewForConfig(cfg)
	return err
}

var resources = map[string]schema.GroupVersionResource{
	"Service":       {Version: "v1", Resource: "services"},
	"EndpointSlice": {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	"Node":          {Version: "v1", Resource: "nodes"},
	"Namespace":     {Version: "v1", Resource: "namespaces"},
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// applyYAML server-side applies each document (kind in resources).
func applyYAML(docs ...string) error {
	for _, doc := range docs {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return fmt.Errorf("%w:\n%s", err, doc)
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return err
		}
		gvr, ok := resources[head.Kind]
		if !ok {
			return fmt.Errorf("kind %q: not in the suite's resources", head.Kind)
		}
		force := true
		c, cancel := ctx()
		_, err = dyn.Resource(gvr).Namespace(head.Metadata.Namespace).Patch(c, head.Metadata.Name, types.ApplyPatchType, js,
			metav1.PatchOptions{FieldManager: "conformance", Force: &force})
		cancel()
		if err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", head.Kind, head.Metadata.Namespace, head.Metadata.Name, err)
		}
	}
	return nil
}

// patchStatus merge-patches the status of an object ("service/NAME",
// "node/NAME").
func patchStatus(ns, obj, patch string) error {
	gvr, name, err := gvrOf(obj)
	if err != nil {
		return err
	}
	c, cancel := ctx()
	defer cancel()
	if _, err := dyn.Resource(gvr).Namespace(ns).Patch(c, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("status of %s: %w", obj, err)
	}
	return nil
}

// remove deletes an object ("service/NAME", "endpointslice/NAME").
func remove(ns, obj string) error {
	gvr, name, err := gvrOf(obj)
	if err != nil {
		return err
	}
	c, cancel := ctx()
	defer cancel()
	if err := dyn.Resource(gvr).Namespace(ns).Delete(c, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", obj, err)
	}
	return nil
}

func gvrOf(obj string) (schema.GroupVersionResource, string, error) {
	kind, name, _ := strings.Cut(obj, "/")
	for k, gvr := range resources {
		if strings.EqualFold(k, kind) {
			return gvr, name, nil
		}
	}
	return schema.GroupVersionResource{}, "", fmt.Errorf("%s: unknown kind", obj)
}

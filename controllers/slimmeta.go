package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// slimMeta is the metadata a slimSlice keeps: 72 bytes where a
// metav1.ObjectMeta is 232 (its timestamps, owner references, finalizers,
// managed fields and maps), which would be a quarter of the slim slice.
// It implements metav1.Object as that interface asks of objects without
// a field: a getter returns the zero value, a setter does nothing. The
// labels are the slice's own business: slimSlice.GetLabels.
type slimMeta struct {
	Name            string
	Namespace       string
	UID             types.UID
	ResourceVersion string
	Generation      int64
}

func (m *slimMeta) GetNamespace() string                          { return m.Namespace }
func (m *slimMeta) SetNamespace(ns string)                        { m.Namespace = ns }
func (m *slimMeta) GetName() string                               { return m.Name }
func (m *slimMeta) SetName(name string)                           { m.Name = name }
func (m *slimMeta) GetGenerateName() string                       { return "" }
func (m *slimMeta) SetGenerateName(string)                        {}
func (m *slimMeta) GetUID() types.UID                             { return m.UID }
func (m *slimMeta) SetUID(uid types.UID)                          { m.UID = uid }
func (m *slimMeta) GetResourceVersion() string                    { return m.ResourceVersion }
func (m *slimMeta) SetResourceVersion(v string)                   { m.ResourceVersion = v }
func (m *slimMeta) GetGeneration() int64                          { return m.Generation }
func (m *slimMeta) SetGeneration(g int64)                         { m.Generation = g }
func (m *slimMeta) GetSelfLink() string                           { return "" }
func (m *slimMeta) SetSelfLink(string)                            {}
func (m *slimMeta) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (m *slimMeta) SetCreationTimestamp(metav1.Time)              {}
func (m *slimMeta) GetDeletionTimestamp() *metav1.Time            { return nil }
func (m *slimMeta) SetDeletionTimestamp(*metav1.Time)             {}
func (m *slimMeta) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *slimMeta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *slimMeta) GetAnnotations() map[string]string             { return nil }
func (m *slimMeta) SetAnnotations(map[string]string)              {}
func (m *slimMeta) GetFinalizers() []string                       { return nil }
func (m *slimMeta) SetFinalizers([]string)                        {}
func (m *slimMeta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *slimMeta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *slimMeta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *slimMeta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// objectMeta is m as the API type.
func (m *slimMeta) objectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Generation: m.Generation}
}

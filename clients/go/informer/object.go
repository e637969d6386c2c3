package informer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// Object is one cached Kubernetes object as informerd serves it: the API server's JSON and the
// metadata needed to key and version it. Objects handed out by a Store or to handlers are shared:
// never modify them (decode a copy with Into, or DeepCopy the Unstructured).
type Object struct {
	// Namespace is metadata.namespace; empty for cluster-scoped objects.
	Namespace string
	// Name is metadata.name.
	Name string
	// UID is metadata.uid.
	UID string
	// ResourceVersion is metadata.resourceVersion of this state.
	ResourceVersion string
	// JSON is the object as compact JSON, with kind and apiVersion set.
	JSON []byte

	once sync.Once
	u    *unstructured.Unstructured
	uErr error
}

// FromProto converts a wire Object; nil stays nil.
func FromProto(o *informerv1.Object) *Object {
	if o == nil {
		return nil
	}
	return &Object{
		Namespace:       o.GetNamespace(),
		Name:            o.GetName(),
		UID:             o.GetUid(),
		ResourceVersion: o.GetResourceVersion(),
		JSON:            []byte(o.GetJson()),
	}
}

// Key is the object's cache key: "namespace/name", or "name" when cluster-scoped.
func (o *Object) Key() string { return ObjectKey(o.Namespace, o.Name) }

// ObjectKey builds a cache key the way client-go's MetaNamespaceKeyFunc does.
func ObjectKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// Into decodes the JSON into v, typically a k8s.io/api type (e.g. *corev1.ConfigMap). The
// result is the caller's own copy.
func (o *Object) Into(v any) error {
	if err := json.Unmarshal(o.JSON, v); err != nil {
		return fmt.Errorf("decoding %s: %w", o.Key(), err)
	}
	return nil
}

// Decode decodes obj into a new T, e.g. informer.Decode[corev1.ConfigMap](obj).
func Decode[T any](obj *Object) (*T, error) {
	var v T
	if err := obj.Into(&v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Unstructured is the object as a generic map, decoded once and shared: read it, or DeepCopy it
// before changing it.
func (o *Object) Unstructured() (*unstructured.Unstructured, error) {
	o.once.Do(func() {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(o.JSON); err != nil {
			o.uErr = fmt.Errorf("decoding %s: %w", o.Key(), err)
			return
		}
		o.u = u
	})
	return o.u, o.uErr
}

// DeletedFinalStateUnknown is what OnDelete receives when the informer did not see the deletion
// itself (the object was gone when it resynchronised after a reconnect), as in client-go: Obj is
// the last state the informer held.
type DeletedFinalStateUnknown struct {
	Key string
	Obj *Object
}

// ObjectOf returns the object of an OnDelete argument: the *Object itself or a tombstone's Obj.
func ObjectOf(obj any) *Object {
	switch o := obj.(type) {
	case *Object:
		return o
	case DeletedFinalStateUnknown:
		return o.Obj
	case *DeletedFinalStateUnknown:
		return o.Obj
	}
	return nil
}

// DeletionHandlingKey is the key of an *Object or a tombstone (client-go's
// DeletionHandlingMetaNamespaceKeyFunc); "" for anything else.
func DeletionHandlingKey(obj any) string {
	switch o := obj.(type) {
	case *Object:
		return o.Key()
	case DeletedFinalStateUnknown:
		return o.Key
	case *DeletedFinalStateUnknown:
		return o.Key
	}
	return ""
}

// rvNewer reports whether resource version a is newer than b. Kubernetes resource versions are
// decimal numbers (informerd compares them so too); an unparsable one counts as newer so that
// such an update is never dropped.
func rvNewer(a, b string) bool {
	ai, errA := strconv.ParseUint(a, 10, 64)
	bi, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return ai > bi
}

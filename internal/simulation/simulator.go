package simulation

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/annotations"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
)

// What every simulator of another provider's kind starts with: the kinds
// are not in this module's scheme, so they are read as unstructured.

// newObject is an empty object of gvk.
func newObject(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	return obj
}

// controllerFor starts a simulator's controller named name for gvk.
func controllerFor(mgr ctrl.Manager, name string, gvk schema.GroupVersionKind) *builder.Builder {
	return ctrl.NewControllerManagedBy(mgr).Named(name).For(newObject(gvk))
}

// getLive reads the object of gvk a reconcile is for; nil when it is gone
// or being deleted, which simulators leave alone.
func getLive(ctx context.Context, c client.Reader, gvk schema.GroupVersionKind, key client.ObjectKey) (*unstructured.Unstructured, error) {
	obj := newObject(gvk)
	if err := c.Get(ctx, key, obj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return nil, nil
	}
	return obj, nil
}

// enqueueReferenced maps an object of type T (a Cluster, a MachinePool) to
// the object of gvk's kind it references through ref, in its namespace.
func enqueueReferenced[T client.Object](gvk schema.GroupVersionKind, ref func(T) clusterv1.ContractVersionedObjectReference) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
		t, ok := o.(T)
		if !ok {
			return nil
		}
		r := ref(t)
		if r.Kind != gvk.Kind || r.APIGroup != gvk.Group {
			return nil
		}
		return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: r.Name}}}
	})
}

// patchFields sets fields of obj's spec or status ("spec", "status") and
// patches them.
func patchFields(ctx context.Context, c client.Client, obj *unstructured.Unstructured, of string, fields map[string]any) error {
	base := obj.DeepCopy()
	for name, value := range fields {
		if err := unstructured.SetNestedField(obj.Object, value, of, name); err != nil {
			return err
		}
	}
	if of == "status" {
		return c.Status().Patch(ctx, obj, client.MergeFrom(base))
	}
	return c.Patch(ctx, obj, client.MergeFrom(base))
}

// leaveAlone says a simulator must not act on obj: as every provider, it
// leaves a paused Cluster's objects alone (clusterctl move pauses the
// source, and what the move deletes there must not come back).
func leaveAlone(cluster *clusterv1.Cluster, obj metav1.Object) bool {
	return annotations.IsPaused(cluster, obj)
}

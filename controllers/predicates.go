package controllers

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// configChanged drops the update events a config's own status writes and
// our token bookkeeping cause: reconciling on them would only re-read what
// the same reconcile just wrote. Anything a user or Cluster API changes
// (spec, labels, annotations, owners, deletion), and a status that lost its
// data secret (a restore), still triggers.
var configChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() || lostDataSecret(o, n) ||
			!equality.Semantic.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences()) ||
			!maps.Equal(o.GetLabels(), n.GetLabels()) ||
			!maps.Equal(withoutTokenAnnotation(o), withoutTokenAnnotation(n)) ||
			(!slices.Equal(o.GetFinalizers(), n.GetFinalizers()) && !onlyTokenFinalizerChanged(o, n)) ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
	},
}

func withoutTokenAnnotation(o client.Object) map[string]string {
	a := maps.Clone(o.GetAnnotations())
	delete(a, TokenIDAnnotation)
	return a
}

func onlyTokenFinalizerChanged(o, n client.Object) bool {
	without := func(f []string) []string {
		return slices.DeleteFunc(slices.Clone(f), func(s string) bool { return s == TokenFinalizer || s == ControllerTokenFinalizer })
	}
	return slices.Equal(without(o.GetFinalizers()), without(n.GetFinalizers()))
}

// machineChanged lets through only the Machine changes a config acts on:
// a new Machine, its node joining (revoke the token), its version or its
// bootstrap reference. A Machine's status moves many times while it
// provisions; none of that needs a reconcile of its config.
var machineChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*clusterv1.Machine)
		n, okNew := e.ObjectNew.(*clusterv1.Machine)
		if !okOld || !okNew {
			return true
		}
		return o.Status.NodeRef != n.Status.NodeRef ||
			o.Spec.Version != n.Spec.Version ||
			o.Spec.Bootstrap.ConfigRef != n.Spec.Bootstrap.ConfigRef ||
			!equality.Semantic.DeepEqual(o.Spec.Bootstrap.DataSecretName, n.Spec.Bootstrap.DataSecretName)
	},
	DeleteFunc: func(event.DeleteEvent) bool { return false },
}

func lostDataSecret(o, n client.Object) bool {
	oldConfig, okOld := o.(bootstrapConfig)
	newConfig, okNew := n.(bootstrapConfig)
	return okOld && okNew && oldConfig.IsDataSecretCreated() && !newConfig.IsDataSecretCreated()
}

package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cluster-api/util/conditions"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// setAvailable reports the data Secret as usable; message is empty or says
// what the user should know about the data.
func setAvailable(config bootstrapConfig, message string) {
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.DataSecretAvailableCondition, Status: metav1.ConditionTrue, Reason: bootstrapv1.DataSecretAvailableReason, Message: message})
}

// markAvailable reports data that exists and carries a live token as
// available, keeping the message of a condition that already says so. A
// condition another provider wrote (k0smotron 1.x's has no reason) is
// replaced by ours.
func markAvailable(config bootstrapConfig) {
	if c := conditions.Get(config, bootstrapv1.DataSecretAvailableCondition); c == nil || c.Status != metav1.ConditionTrue || c.Reason != bootstrapv1.DataSecretAvailableReason {
		setAvailable(config, "")
	}
}

// setWaiting reports what the data waits for, as DataSecretAvailable=False.
func setWaiting(config bootstrapConfig, reason, format string, args ...any) {
	conditions.Set(config, metav1.Condition{Type: bootstrapv1.DataSecretAvailableCondition, Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// setFailed reports data that cannot be made until the user changes
// something.
func setFailed(config bootstrapConfig, format string, args ...any) {
	setWaiting(config, bootstrapv1.DataSecretGenerationFailedReason, format, args...)
}

// currentCondition copies the DataSecretAvailable condition: conditions.Set
// updates the slice in place, so a pointer would follow the change.
func currentCondition(config bootstrapConfig) *metav1.Condition {
	if c := conditions.Get(config, bootstrapv1.DataSecretAvailableCondition); c != nil {
		copied := *c
		return &copied
	}
	return nil
}

// summarize mirrors DataSecretAvailable into Ready and emits an event when
// what the config waits for changes.
func (r *configReconciler) summarize(config bootstrapConfig, before *metav1.Condition) {
	current := conditions.Get(config, bootstrapv1.DataSecretAvailableCondition)
	if current == nil {
		return
	}
	ready := *current
	ready.Type = bootstrapv1.ReadyCondition
	ready.LastTransitionTime = metav1.Time{}
	conditions.Set(config, ready)

	// Waiting, failing and recovering are events; data that is simply
	// available on the first try is not (see storeData).
	recovered := current.Status == metav1.ConditionTrue && before != nil && before.Status != metav1.ConditionTrue
	if current.Status != metav1.ConditionTrue && (before == nil || before.Reason != current.Reason) || recovered {
		eventType := corev1.EventTypeNormal
		if current.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		note := current.Message
		if note == "" {
			note = "Bootstrap data is available"
		}
		r.Recorder.Eventf(config, nil, eventType, current.Reason, "Reconcile", "%s", note)
	}
}

package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// configPatcher writes a config's changes in as few requests as the API
// allows: one for metadata, one for status, conditions included. Cluster
// API's patch helper sends conditions in a request of their own, so that it
// can merge them with other writers' under optimistic locking; a bootstrap
// config's status has a single writer, this controller, and a scale-up of a
// thousand machines should not pay a thousand extra requests for a merge
// that never happens.
type configPatcher struct {
	client client.Client
	before *bootstrapv1.K0sWorkerConfig
}

func newConfigPatcher(c client.Client, config *bootstrapv1.K0sWorkerConfig) *configPatcher {
	return &configPatcher{client: c, before: config.DeepCopy()}
}

// patchMetadata writes metadata changes only; status changes made so far
// stay pending for patch.
func (p *configPatcher) patchMetadata(ctx context.Context, config *bootstrapv1.K0sWorkerConfig) error {
	return p.patchMetadataWith(ctx, config, client.MergeFrom)
}

// recordTokenID writes metadata changes under an optimistic lock: the
// token ID a reconcile records must be recorded on the config as that
// reconcile saw it. A reconcile working on a stale copy (a cache that lags,
// a retry, a leader overlap) gets a conflict instead of recording a second
// token ID over a first that a machine may already boot with.
func (p *configPatcher) recordTokenID(ctx context.Context, config *bootstrapv1.K0sWorkerConfig) error {
	return p.patchMetadataWith(ctx, config, func(before client.Object) client.Patch {
		before.SetResourceVersion(config.ResourceVersion)
		return client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	})
}

func (p *configPatcher) patchMetadataWith(ctx context.Context, config *bootstrapv1.K0sWorkerConfig, patchFrom func(client.Object) client.Patch) error {
	before, after := metadataOnly(p.before), metadataOnly(config)
	if equality.Semantic.DeepEqual(before.ObjectMeta, after.ObjectMeta) {
		return nil
	}
	if err := p.client.Patch(ctx, after, patchFrom(before)); err != nil {
		return fmt.Errorf("patching metadata: %w", err)
	}
	config.ResourceVersion = after.ResourceVersion
	p.before.ObjectMeta = *config.ObjectMeta.DeepCopy()
	return nil
}

// patch writes metadata and status changes, setting status.observedGeneration
// when asked (a reconcile that finished without error).
func (p *configPatcher) patch(ctx context.Context, config *bootstrapv1.K0sWorkerConfig, observedGeneration bool) error {
	if observedGeneration {
		config.Status.ObservedGeneration = config.Generation
	}
	if err := p.patchMetadata(ctx, config); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(p.before.Status, config.Status) {
		return nil
	}
	before, after := statusOnly(p.before), statusOnly(config)
	if err := p.client.Status().Patch(ctx, after, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	config.ResourceVersion = after.ResourceVersion
	p.before = config.DeepCopy()
	return nil
}

// metadataOnly drops what the server owns, so the patch carries neither a
// resourceVersion precondition nor managed fields.
func metadataOnly(config *bootstrapv1.K0sWorkerConfig) *bootstrapv1.K0sWorkerConfig {
	meta := config.ObjectMeta.DeepCopy()
	meta.ResourceVersion, meta.ManagedFields = "", nil
	return &bootstrapv1.K0sWorkerConfig{TypeMeta: config.TypeMeta, ObjectMeta: *meta}
}

func statusOnly(config *bootstrapv1.K0sWorkerConfig) *bootstrapv1.K0sWorkerConfig {
	return &bootstrapv1.K0sWorkerConfig{
		TypeMeta:   config.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Namespace: config.Namespace, Name: config.Name},
		Status:     *config.Status.DeepCopy(),
	}
}

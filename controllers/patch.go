package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
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
	kind   configKind
	before bootstrapConfig
}

func (r *configReconciler) newPatcher(config bootstrapConfig) *configPatcher {
	return &configPatcher{client: r.Client, kind: r.kind, before: config.DeepCopyObject().(bootstrapConfig)}
}

// patchMetadata writes metadata changes only; status changes made so far
// stay pending for patch.
func (p *configPatcher) patchMetadata(ctx context.Context, config bootstrapConfig) error {
	return p.patchMetadataWith(ctx, config, client.MergeFrom)
}

// recordTokenID writes metadata changes under an optimistic lock: the
// token ID a reconcile records must be recorded on the config as that
// reconcile saw it. A reconcile working on a stale copy (a cache that lags,
// a retry, a leader overlap) gets a conflict instead of recording a second
// token ID over a first that a machine may already boot with.
func (p *configPatcher) recordTokenID(ctx context.Context, config bootstrapConfig) error {
	return p.patchMetadataWith(ctx, config, func(before client.Object) client.Patch {
		before.SetResourceVersion(config.GetResourceVersion())
		return client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	})
}

func (p *configPatcher) patchMetadataWith(ctx context.Context, config bootstrapConfig, patchFrom func(client.Object) client.Patch) error {
	before, after := p.metadataOnly(p.before), p.metadataOnly(config)
	if equality.Semantic.DeepEqual(objectMeta(before), objectMeta(after)) {
		return nil
	}
	if err := p.client.Patch(ctx, after, patchFrom(before)); err != nil {
		return fmt.Errorf("patching metadata: %w", err)
	}
	config.SetResourceVersion(after.GetResourceVersion())
	*objectMeta(p.before) = *objectMeta(config).DeepCopy()
	return nil
}

// patch writes metadata and status changes, setting status.observedGeneration
// when asked (a reconcile that finished without error).
func (p *configPatcher) patch(ctx context.Context, config bootstrapConfig, observedGeneration bool) error {
	if observedGeneration {
		config.SetObservedGeneration(config.GetGeneration())
	}
	if err := p.patchMetadata(ctx, config); err != nil {
		return err
	}
	before, after := p.statusOnly(p.before), p.statusOnly(config)
	if equality.Semantic.DeepEqual(before, after) {
		return nil
	}
	data, err := client.MergeFrom(before).Data(after)
	if err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	// The answer is read as metadata: its resourceVersion is all that is
	// kept of it. Decoding the whole config the API server returns was
	// the largest single cost of a saturated manager's reconcile, and
	// encoding it a cost to the API server.
	written, err := p.metadataOf(config)
	if err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	if err := p.client.Status().Patch(ctx, written, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	config.SetResourceVersion(written.GetResourceVersion())
	p.before = config.DeepCopyObject().(bootstrapConfig)
	return nil
}

// metadataOnly is a copy of config with what a metadata patch carries: its
// metadata without what the server owns, so the patch carries neither a
// resourceVersion precondition nor managed fields.
func (p *configPatcher) metadataOnly(config bootstrapConfig) bootstrapConfig {
	out := config.DeepCopyObject().(bootstrapConfig)
	meta := objectMeta(out)
	meta.ResourceVersion, meta.ManagedFields = "", nil
	p.kind.clearSpec(out)
	p.kind.clearStatus(out)
	return out
}

// metadataOf is the metadata-only form of config a request's answer is
// read into.
func (p *configPatcher) metadataOf(config bootstrapConfig) (*metav1.PartialObjectMetadata, error) {
	gvk, err := apiutil.GVKForObject(config, p.client.Scheme())
	if err != nil {
		return nil, err
	}
	out := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: config.GetNamespace(), Name: config.GetName()}}
	out.SetGroupVersionKind(gvk)
	return out, nil
}

// statusOnly is a copy of config with what a status patch carries.
func (p *configPatcher) statusOnly(config bootstrapConfig) bootstrapConfig {
	out := config.DeepCopyObject().(bootstrapConfig)
	*objectMeta(out) = metav1.ObjectMeta{Namespace: config.GetNamespace(), Name: config.GetName()}
	p.kind.clearSpec(out)
	return out
}

// objectMeta is the object's metadata, in place: both config kinds embed
// metav1.ObjectMeta, whose GetObjectMeta returns itself.
func objectMeta(o client.Object) *metav1.ObjectMeta {
	return o.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
}

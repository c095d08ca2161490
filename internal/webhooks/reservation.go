package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	"sigs.k8s.io/cluster-api/util/labels"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// +kubebuilder:webhook:verbs=create,path=/mutate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfig,mutating=true,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0sworkerconfigs,versions=v1beta2,name=jointoken.k0sworkerconfig.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1,reinvocationPolicy=Never
// +kubebuilder:webhook:verbs=create,path=/mutate-bootstrap-cluster-x-k8s-io-v1beta2-k0scontrollerconfig,mutating=true,failurePolicy=fail,matchPolicy=Equivalent,groups=bootstrap.cluster.x-k8s.io,resources=k0scontrollerconfigs,versions=v1beta2,name=jointoken.k0scontrollerconfig.bootstrap.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1,reinvocationPolicy=Never

// Paths the join token reservation is served at.
const (
	workerReservationPath     = "/mutate-bootstrap-cluster-x-k8s-io-v1beta2-k0sworkerconfig"
	controllerReservationPath = "/mutate-bootstrap-cluster-x-k8s-io-v1beta2-k0scontrollerconfig"
)

// tokenReservation gives a config, as it is created, the ID of the join
// token its data will carry and the finalizer that revokes that token.
// The controller would otherwise write both on the config just before it
// creates the token, so that a retry after any failure reuses the ID and a
// deletion revokes it: a write per machine that the API server, every
// watcher of configs and the controller itself pay for, a quarter of a
// bootstrap's writes. Set at creation, they cost nothing but this call.
//
// Only the configs the serving manager reconciles get it (Scope). It
// only adds: an ID already there (a config `clusterctl move` or a
// restore creates) is kept, and the controller still records an ID itself
// for a config created without this webhook. It reads metadata only and
// patches exactly two fields, so a create is stored as sent otherwise.
type tokenReservation struct {
	scope     Scope
	finalizer string
}

// Handle reserves a token ID on a config being created.
func (t tokenReservation) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	var meta metav1.PartialObjectMetadata
	if err := json.Unmarshal(req.Object.Raw, &meta); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if t.scope.Namespace != "" && req.Namespace != t.scope.Namespace ||
		t.scope.WatchFilterValue != "" && !labels.HasWatchLabel(&meta, t.scope.WatchFilterValue) {
		// Another manager's config (or nobody's): it records an ID itself.
		return admission.Allowed("")
	}
	patches, err := t.reserve(meta.ObjectMeta)
	if err != nil {
		return admission.Denied(err.Error())
	}
	if len(patches) == 0 {
		return admission.Allowed("")
	}
	return admission.Patched("", patches...)
}

// reserve is the JSON patch that gives meta a token ID and the finalizer.
func (t tokenReservation) reserve(meta metav1.ObjectMeta) ([]jsonpatch.Operation, error) {
	var patches []jsonpatch.Operation
	switch id, ok := meta.Annotations[bootstrapv1.JoinTokenIDAnnotation]; {
	case ok && id != "" && !bootstraputil.IsValidBootstrapTokenID(id):
		return nil, fmt.Errorf("annotation %s must be a bootstrap token ID (6 lowercase letters or digits) or absent, not %q", bootstrapv1.JoinTokenIDAnnotation, id)
	case id == "":
		token, err := jointoken.NewToken()
		if err != nil {
			return nil, err
		}
		if meta.Annotations == nil {
			patches = append(patches, jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{bootstrapv1.JoinTokenIDAnnotation: token.ID}))
		} else {
			patches = append(patches, jsonpatch.NewOperation("add", "/metadata/annotations/"+pointerEscape(bootstrapv1.JoinTokenIDAnnotation), token.ID))
		}
	}
	switch {
	case slices.Contains(meta.Finalizers, t.finalizer):
	case meta.Finalizers == nil:
		patches = append(patches, jsonpatch.NewOperation("add", "/metadata/finalizers", []string{t.finalizer}))
	default:
		patches = append(patches, jsonpatch.NewOperation("add", "/metadata/finalizers/-", t.finalizer))
	}
	return patches, nil
}

// pointerEscape escapes a key for a JSON pointer (RFC 6901).
func pointerEscape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

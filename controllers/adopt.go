package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/annotations"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
)

// Taking over data another bootstrap provider wrote. When a management
// cluster switches from k0smotron's bootstrap provider to cabpk0s in place,
// its configs keep the data k0smotron wrote, and the workload clusters keep
// the join tokens k0smotron created: valid for 24 hours, never revoked, and
// linked to a config only by the token inside its data. cabpk0s never
// rewrites that data (the machines booted from it), but it takes over the
// tokens it can attribute: a token whose machine joined is revoked at once,
// one whose machine has not joined yet is revoked when it joins or when the
// config goes, and a MachinePool's is replaced by a cabpk0s token (the
// pool's data rewritten, as a rotation) before it expires. Tokens it cannot
// attribute to a config it owns are left alone.
//
// All of a Cluster's configs of a kind are looked at in one pass, the
// first time one of them is reconciled, so that one event on the Cluster
// says what was found and done. A config looked at carries
// AdoptedAnnotation: after that, and for every config whose data cabpk0s
// wrote, telling adopted data from ours costs no request (the data
// Secret's metadata is cached).

const (
	// AdoptedAnnotation marks a config whose data cabpk0s did not write and
	// has looked at; its value says what became of the data's join token
	// (the adopted* values).
	AdoptedAnnotation = "bootstrap.cluster.x-k8s.io/k0s-data-adopted"
	// K0smotronTokenIDAnnotation names the k0smotron join token an adopted
	// config's data carries, while cabpk0s waits to revoke it: when the
	// machine joins, or the config is deleted. A MachinePool's is replaced
	// before it expires.
	K0smotronTokenIDAnnotation = "bootstrap.cluster.x-k8s.io/k0smotron-join-token-id" //nolint:gosec // an annotation key, not a credential
)

// What adoption found of an adopted config's join token.
const (
	adoptedRevoked    = "k0smotron-token-revoked"
	adoptedWatched    = "k0smotron-token-watched"
	adoptedReplaced   = "k0smotron-token-replaced"
	adoptedGone       = "token-gone"
	adoptedNotOurs    = "token-not-k0smotrons"
	adoptedNoToken    = "no-token-in-data"
	adoptedUnreadable = "data-unreadable"
)

// adoption is one pass over a Cluster's configs of a kind.
type adoption struct {
	// counts by adopted* value.
	counts map[string]int
	// attributed are the token IDs found in adopted data.
	attributed map[string]bool
	// names are the configs the pass took over.
	names []string
}

// adoptions are the Clusters a pass runs for: one pass per Cluster at a
// time, so that two configs reconciled at once do not both take over the
// same tokens, and a reconcile that finds one running comes back later
// rather than holding a worker.
type adoptions struct {
	mu      sync.Mutex
	running map[string]bool
}

func (a *adoptions) start(cluster string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running[cluster] {
		return false
	}
	if a.running == nil {
		a.running = map[string]bool{}
	}
	a.running[cluster] = true
	return true
}

func (a *adoptions) done(cluster string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.running, cluster)
}

// adoptionRetry is how soon a config whose Cluster's pass is running
// looks again.
const adoptionRetry = 2 * time.Second

// hasForeignData tells whether the config's data was written by another
// provider and not looked at yet. Only configs that have data and no
// token of ours are candidates; the data Secret's metadata comes from the
// cache, where data cabpk0s wrote carries TokenIDAnnotation.
func (r *configReconciler) hasForeignData(ctx context.Context, config bootstrapConfig) (bool, error) {
	a := config.GetAnnotations()
	if a[AdoptedAnnotation] != "" || a[K0smotronTokenIDAnnotation] != "" {
		// The cache shows what a pass recorded: its memory is not needed.
		r.adopted.delete(config.GetUID())
		return false, nil
	}
	if !config.IsDataSecretCreated() || a[TokenIDAnnotation] != "" || annotations.HasPaused(config) {
		return false, nil
	}
	if _, done := r.adopted.get(config.GetUID()); done {
		// Looked at by a pass the cache does not show yet.
		return false, nil
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: config.GetNamespace(), Name: ptr.Deref(config.GetDataSecretName(), config.GetName())}
	if err := r.SecretCachingClient.Get(ctx, key, secret); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	_, ours := secret.Annotations[TokenIDAnnotation]
	return !ours, nil
}

// adoptCluster looks at every config of the kind of s's Cluster whose
// data another provider wrote: see the top of this file. While another
// reconcile runs the Cluster's pass, it asks to come back later.
func (r *configReconciler) adoptCluster(ctx context.Context, s *scope) (retry bool, _ error) {
	cluster := s.cluster.Namespace + "/" + s.cluster.Name
	if !r.adopting.start(cluster) {
		return true, nil
	}
	defer r.adopting.done(cluster)
	if _, done := r.adopted.get(s.config.GetUID()); done {
		return false, nil
	}
	workload, err := r.workloadLive(ctx, s.cluster)
	if err != nil {
		return false, err
	}
	tokens, err := jointoken.List(ctx, workload)
	if err != nil {
		return false, err
	}
	byID := map[string]*corev1.Secret{}
	for i := range tokens {
		byID[string(tokens[i].Data[bootstrapapi.BootstrapTokenIDKey])] = &tokens[i]
	}

	pass := &adoption{counts: map[string]int{}, attributed: map[string]bool{}}
	// What a pass did is reported even when it stops at an error: the
	// configs it recorded are not looked at again.
	defer r.reportAdoption(s.cluster, tokens, pass)
	requests := r.configsOfCluster(ctx, s.cluster)
	if !slices.ContainsFunc(requests, func(req ctrl.Request) bool { return req.NamespacedName == client.ObjectKeyFromObject(s.config) }) {
		requests = append(requests, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s.config)})
	}
	for _, req := range requests {
		config := s.config
		if req.NamespacedName != client.ObjectKeyFromObject(s.config) {
			config = r.kind.newConfig()
			if err := r.Client.Get(ctx, req.NamespacedName, config); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return false, err
			}
		}
		if err := r.adoptConfig(ctx, s, config, byID, pass); err != nil {
			if config != s.config && (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
				// Read stale, or gone: its own reconcile comes back to it.
				continue
			}
			return false, err
		}
	}
	return false, nil
}

// adoptConfig looks at one config of the pass, if its data is another
// provider's, and records on the config what it found: a k0smotron token
// that lives is recorded in K0smotronTokenIDAnnotation, and the config's
// own reconcile revokes it (at once if the machine joined) or replaces it
// (a MachinePool's); a pool whose token is gone gets the same, so that its
// data is given a token that works.
func (r *configReconciler) adoptConfig(ctx context.Context, s *scope, config bootstrapConfig, tokens map[string]*corev1.Secret, pass *adoption) error {
	if id := config.GetAnnotations()[K0smotronTokenIDAnnotation]; id != "" {
		// Attributed in an earlier pass.
		pass.attributed[id] = true
	}
	if id, done := r.adopted.get(config.GetUID()); done {
		// Looked at by an earlier pass that the cache does not show yet.
		if id != "" {
			pass.attributed[id] = true
		}
		return nil
	}
	foreign, err := r.hasForeignData(ctx, config)
	if err != nil || !foreign || !config.GetDeletionTimestamp().IsZero() {
		return err
	}
	owner := s.owner
	if config != s.config {
		if owner, err = r.getConfigOwner(ctx, config); err != nil || owner == nil {
			// Without an owner yet, its own reconcile comes back to it.
			return err
		}
	}
	patcher := s.patcher
	if config != s.config {
		patcher = r.newPatcher(config)
	}

	// Not recorded, nothing of it may stay on the config: the reconcile's
	// closing patch would write it without the lock.
	annotationsBefore, finalizersBefore := maps.Clone(config.GetAnnotations()), slices.Clone(config.GetFinalizers())
	outcome, id := adoptedNoToken, ""
	token, err := r.tokenInData(ctx, config)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case errors.Is(err, errNoJoinTokenFile):
		// A first controller's data: nothing to take over.
	case errors.Is(err, errUnreadableData):
		// Data a machine booted from that cabpk0s cannot read is left as
		// it is; the outcome says so. (The reason is not logged: it may
		// quote the data.)
		ctrl.LoggerFrom(ctx).Info("Adopted bootstrap data carries no join token cabpk0s can read", "config", client.ObjectKeyFromObject(config))
		outcome = adoptedUnreadable
	case err != nil:
		return err
	default:
		id = token.ID
		pass.attributed[id] = true
		secret, exists := tokens[id]
		switch {
		case !exists && !owner.isPool():
			outcome = adoptedGone
		case exists && !r.kind.role().IsK0smotrons(secret):
			outcome = adoptedNotOurs
		default:
			joined, err := r.adoptedJoined(ctx, &scope{config: config, owner: owner, cluster: s.cluster, patcher: patcher})
			if err != nil {
				return err
			}
			outcome = adoptedWatched
			if joined {
				outcome = adoptedRevoked
			}
			setAnnotation(config, K0smotronTokenIDAnnotation, id)
			controllerutil.AddFinalizer(config, r.kind.finalizer())
		}
	}
	setAnnotation(config, AdoptedAnnotation, outcome)
	if err := patcher.recordTokenID(ctx, config); err != nil {
		config.SetAnnotations(annotationsBefore)
		config.SetFinalizers(finalizersBefore)
		return fmt.Errorf("recording what was found of the adopted data of %s: %w", config.GetName(), err)
	}
	pass.counts[outcome]++
	pass.names = append(pass.names, config.GetName())
	r.adopted.set(config.GetUID(), id)
	return nil
}

// adoptedJoined tells whether the machine of an adopted config no longer
// needs its join token. A MachinePool can always grow: never.
func (r *configReconciler) adoptedJoined(ctx context.Context, s *scope) (bool, error) {
	if s.owner.isPool() {
		return false, nil
	}
	if s.owner.hasJoined() {
		return true, nil
	}
	return r.kind.joined(ctx, r, s)
}

// reportAdoption says on the Cluster what a pass found and did.
func (r *configReconciler) reportAdoption(cluster *clusterv1.Cluster, tokens []corev1.Secret, pass *adoption) {
	total := 0
	for _, n := range pass.counts {
		total += n
	}
	if total == 0 {
		return
	}
	unattributed := 0
	for i := range tokens {
		if r.kind.role().IsK0smotrons(&tokens[i]) && !pass.attributed[string(tokens[i].Data[bootstrapapi.BootstrapTokenIDKey])] {
			unattributed++
		}
	}
	var parts []string
	for _, outcome := range []string{adoptedRevoked, adoptedWatched, adoptedGone, adoptedNotOurs, adoptedNoToken, adoptedUnreadable} {
		if n := pass.counts[outcome]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, adoptedSummary[outcome]))
		}
	}
	// The names also keep two passes' notes apart: the recorder merges
	// events with the same note into one.
	slices.Sort(pass.names)
	names := strings.Join(pass.names[:min(len(pass.names), adoptionNamesShown)], ", ")
	if more := len(pass.names) - adoptionNamesShown; more > 0 {
		names += fmt.Sprintf(" and %d more", more)
	}
	r.Recorder.Eventf(cluster, nil, corev1.EventTypeNormal, "BootstrapDataAdopted", "Adopt",
		"Took over %d %ss whose bootstrap data another provider wrote (%s; their data is left as it is): %s; %d other k0smotron %s join tokens in the workload cluster belong to no config cabpk0s owns and are left to expire",
		total, r.kind.name(), names, strings.Join(parts, ", "), unattributed, r.kind.role())
}

// adoptionNamesShown is how many config names an adoption event lists.
const adoptionNamesShown = 5

var adoptedSummary = map[string]string{
	adoptedRevoked:    "k0smotron join tokens revoked (their machines joined)",
	adoptedWatched:    "k0smotron join tokens kept until their machines join (then revoked)",
	adoptedGone:       "tokens already gone",
	adoptedNotOurs:    "tokens not k0smotron's (left alone)",
	adoptedNoToken:    "without a join token file",
	adoptedUnreadable: "with data cabpk0s cannot read (left alone)",
}

// reconcileK0smotronToken looks after the k0smotron token of an adopted
// config's data: revoked once the machine joined, and extended until then
// as a pending machine's token is; a MachinePool's data gets a cabpk0s
// token (a rotation) once half of a TTL of the old one is left, or at once
// if it is gone.
func (r *configReconciler) reconcileK0smotronToken(ctx context.Context, s *scope, id string) (ctrl.Result, error) {
	config := s.config
	markAvailable(config)
	joined, err := r.adoptedJoined(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	workload, err := r.workloadClient(ctx, s.cluster)
	if err != nil {
		return ctrl.Result{}, err
	}
	if joined {
		if err := jointoken.Delete(ctx, workload, id); err != nil {
			return ctrl.Result{}, err
		}
		joinTokenOperations.WithLabelValues(tokenRevoked).Inc()
		r.dropK0smotronToken(config, adoptedRevoked)
		r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRevoked", "Revoke", "%s joined: revoked k0smotron's join token %s", r.joinedWhat(s), id)
		return ctrl.Result{}, nil
	}
	token, err := r.lookupToken(ctx, s.cluster, workload, id)
	switch {
	case apierrors.IsNotFound(err):
		if s.owner.isPool() {
			return r.replaceK0smotronToken(ctx, s, id)
		}
		r.dropK0smotronToken(config, adoptedGone)
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, bootstrapv1.JoinTokenMissingReason, "Refresh",
			"k0smotron's join token %s in the data of %s %s no longer exists: the machine cannot join with this data; delete the Machine to replace it", id, s.owner.kind(), s.owner.object().GetName())
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	if s.owner.isPool() {
		if r.poolRotationDue(token.Expiration, time.Now()) {
			return r.replaceK0smotronToken(ctx, s, id)
		}
		return ctrl.Result{RequeueAfter: max(time.Until(token.Expiration)-r.poolRotateBelow(), time.Second), Priority: ptr.To(tokenCheckPriority)}, nil
	}
	// A pending machine's token is kept alive as cabpk0s's own are, so
	// that a machine provisioned late still joins with the data it has.
	if token, err = r.extend(ctx, workload, token, time.Now()); err != nil {
		return ctrl.Result{}, err
	}
	after := max(time.Until(token.Expiration)-r.machineRefreshBelow(), time.Second)
	if recheck := r.kind.recheck(); recheck > 0 {
		after = min(after, recheck)
	}
	return ctrl.Result{RequeueAfter: after, Priority: ptr.To(tokenCheckPriority)}, nil
}

// replaceK0smotronToken gives a MachinePool's adopted data a cabpk0s
// token. The k0smotron token expires on its own: an instance may be
// booting with it.
func (r *configReconciler) replaceK0smotronToken(ctx context.Context, s *scope, id string) (ctrl.Result, error) {
	res, err := r.generate(ctx, s, true)
	if err != nil || s.config.GetAnnotations()[TokenIDAnnotation] == "" {
		return res, err
	}
	r.dropK0smotronToken(s.config, adoptedReplaced)
	r.Recorder.Eventf(s.config, nil, corev1.EventTypeNormal, "JoinTokenRotated", "Rotate",
		"Replaced k0smotron's join token %s of the MachinePool's data with cabpk0s's %s; %s expires on its own", id, s.config.GetAnnotations()[TokenIDAnnotation], id)
	return res, nil
}

// dropK0smotronToken forgets the adopted token; the finalizer stays only
// for a token of cabpk0s's own.
func (r *configReconciler) dropK0smotronToken(config bootstrapConfig, outcome string) {
	deleteAnnotation(config, K0smotronTokenIDAnnotation)
	setAnnotation(config, AdoptedAnnotation, outcome)
	if config.GetAnnotations()[TokenIDAnnotation] == "" {
		controllerutil.RemoveFinalizer(config, r.kind.finalizer())
	}
}

// joinedWhat names what joined, for an event.
func (r *configReconciler) joinedWhat(s *scope) string {
	if s.owner.machine.Status.NodeRef.IsDefined() {
		return "Node " + s.owner.machine.Status.NodeRef.Name
	}
	return "Controller " + s.owner.machine.Name
}

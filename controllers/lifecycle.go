package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
	"github.com/cabpk0s/cabpk0s/internal/failpoint"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// The join token's life, one path for every case:
//
//   - generate writes the data with the config's token; a token it needs
//     anew (none yet, or a MachinePool's rotation) is made in memory, the
//     data rendered with it, and only then is it recorded and created, so
//     data that cannot be made keeps no token alive.
//   - reconcileToken looks after the token of data already written: it
//     re-renders when the data Secret carries another token than the
//     config records (a rotation cut short, a deleted Secret), extends a
//     pending Machine's token, rotates a pool's, and revokes the token once
//     the Machine's node joined.
//
// dataSecretCreated, once true, is never cleared: Cluster API reads it.

// generate writes the bootstrap data. rotate mints a new token even when
// the config already has one.
func (r *configReconciler) generate(ctx context.Context, s *scope, rotate bool) (_ ctrl.Result, retErr error) {
	config, cluster := s.config, s.cluster
	firstData := !config.IsDataSecretCreated()
	wrote := false
	defer func() { bootstrapDataRenders.WithLabelValues(renderResult(config, wrote, retErr)).Inc() }()

	// Data already written (a rotation, a re-render) was made from a spec
	// that passed; a rule added by a later release must not stop a pool's
	// rotation over it.
	if firstData {
		if errs := r.kind.validate(config); len(errs) > 0 {
			setFailed(config, "The spec is invalid (admission should have refused it): %v", errs.ToAggregate())
			return ctrl.Result{}, nil
		}
	}
	if _, err := bootstrapinput.Version(config.GetInstallSpec().Version, s.owner.version()); err != nil {
		setFailed(config, "Cannot use the k0s version of %s %s: %v", s.owner.kind(), s.owner.object().GetName(), err)
		return ctrl.Result{}, nil
	}
	plan, res, err := r.kind.plan(ctx, r, s)
	if plan == nil || err != nil {
		return res, err
	}
	if plan.join == nil {
		// Data without a token (the first controller's) needs nothing of
		// the workload cluster: it makes it.
		data, err := bootstrapinput.Render(plan.in, nil, jointoken.Token{})
		if err != nil {
			setFailed(config, "Cannot render the bootstrap data: %v", err)
			return ctrl.Result{}, nil
		}
		if wrote, err = r.writeData(ctx, s, plan, data, ""); err != nil {
			return ctrl.Result{}, err
		}
		// The ID reserved at creation names no token of this data.
		dropTokenID(config, r.kind.finalizer())
		return ctrl.Result{}, nil
	}
	// The data carries the token's secret half, which the cache does not
	// keep: this path reads the workload cluster live.
	workload, err := r.workloadLive(ctx, cluster)
	if err != nil {
		if firstData && workloadUnreachable(err) {
			// Data that cannot render is the user's to fix, and says so
			// while the workload cluster is away: rendered with a stand-in
			// token, the size and templates are checked all the same.
			if _, renderErr := bootstrapinput.Render(plan.in, plan.join, standInToken()); renderErr != nil {
				setFailed(config, "Cannot render the bootstrap data: %v", renderErr)
				return ctrl.Result{}, nil
			}
		}
		return ctrl.Result{}, err
	}

	oldID := config.GetAnnotations()[TokenIDAnnotation]
	token, fresh, err := r.currentToken(ctx, s, workload, rotate)
	if err != nil {
		return ctrl.Result{}, err
	}
	// A fresh token exists nowhere yet: data that cannot be made keeps no
	// token alive.
	data, err := bootstrapinput.Render(plan.in, plan.join, token)
	if err != nil {
		setFailed(config, "Cannot render the bootstrap data: %v", err)
		return ctrl.Result{}, nil
	}
	if fresh {
		minted, err := r.mint(ctx, s, workload, token, rotate)
		if err != nil {
			return ctrl.Result{}, err
		}
		if minted.ID != token.ID || minted.Secret != token.Secret {
			// An earlier try created this ID already: its token is the
			// one. Or the ID was another config's: this one has its own.
			if data, err = bootstrapinput.Render(plan.in, plan.join, minted); err != nil {
				setFailed(config, "Cannot render the bootstrap data: %v", err)
				return ctrl.Result{}, err
			}
		}
		token = minted
	}
	r.tokens.set(config.GetUID(), knownToken{id: token.ID, expires: token.Expiration})

	if fresh {
		failpoint.Hit(failpoint.JoinTokenCreated)
	}
	if wrote, err = r.writeData(ctx, s, plan, data, token.ID); err != nil {
		return ctrl.Result{}, err
	}
	if rotate && oldID != "" {
		r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRotated", "Rotate",
			"Rotated the MachinePool join token from %s to %s; %s expires on its own", oldID, token.ID, oldID)
	}
	return r.requeueForToken(s, token), nil
}

// writeData stores data carrying token tokenID ("" for none) and reports
// it in status.
func (r *configReconciler) writeData(ctx context.Context, s *scope, plan *dataPlan, data []byte, tokenID string) (bool, error) {
	config, owner := s.config, s.owner
	firstData := !config.IsDataSecretCreated()
	stored := dataSecret(config, r.gvk(), s.cluster.Name, data, plan.in.Format, tokenID)
	if err := r.storeData(ctx, s, stored); err != nil {
		setFailed(config, "Cannot store the bootstrap data Secret: %v", err)
		return false, err
	}
	failpoint.Hit(failpoint.DataSecretWritten)
	w, _ := r.writes.get(config.GetUID())
	w.dataTokenID, w.dataVersion = tokenID, stored.ResourceVersion
	r.writes.set(config.GetUID(), w)
	if firstData {
		bootstrapDataReady.Observe(time.Since(config.GetCreationTimestamp().Time).Seconds())
	}
	config.SetDataSecret(config.GetName())
	message := ""
	if plan.in.Version == "" {
		message = "Neither the config nor its " + owner.kind() + " sets a version: the machine installs the latest k0s release"
		r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "LatestK0sVersion", "Render", message)
	}
	setAvailable(config, message)
	return true, nil
}

// currentToken returns the token the data is to carry. An existing token
// of the config comes back extended when due. Otherwise (none yet, a
// rotation, a recorded ID whose token is gone or is another config's) a
// fresh token is made in memory only, fresh is true, and mint creates it
// once the data renders.
func (r *configReconciler) currentToken(ctx context.Context, s *scope, workload client.Client, rotate bool) (_ jointoken.Token, fresh bool, _ error) {
	config := s.config
	id := config.GetAnnotations()[TokenIDAnnotation]
	if id != "" && !rotate && !config.IsDataSecretCreated() {
		// The ID reserved when the config was created (or recorded by an
		// earlier try): mint creates the token, or takes the one an
		// earlier try created, without a look first.
		token, err := jointoken.NewToken()
		token.ID = id
		return token, true, err
	}
	if id != "" && !rotate {
		token, err := r.kind.role().GetOwn(ctx, workload, id, r.tokenDescription(config))
		switch {
		case err == nil:
			// Data about to be written must carry a token with most of its
			// life ahead.
			token, err = r.extend(ctx, workload, token, time.Now())
			return token, false, err
		case apierrors.IsNotFound(err):
			// Recorded, then not created (or cleaned up): the same ID again.
			token, err := jointoken.NewToken()
			token.ID = id
			return token, true, err
		case !errors.Is(err, jointoken.ErrNotOurs):
			return jointoken.Token{}, false, err
		}
		// The recorded ID names another config's token (a config copied
		// with its annotations): this one gets a token of its own.
	}
	token, err := jointoken.NewToken()
	return token, true, err
}

// mint records a fresh token's ID on the config, then creates the token:
// whatever fails later, the retry finds the same ID and reuses the token,
// so a config never has two. The ID is recorded under an optimistic lock
// (see recordTokenID). An ID the config already names (reserved when it
// was created) needs no recording; if a token of that ID exists and is
// another config's (a config copied with its annotations), the config
// gets an ID of its own. A token an earlier try created is taken as it
// is, extended when due.
func (r *configReconciler) mint(ctx context.Context, s *scope, workload client.Client, token jointoken.Token, rotate bool) (jointoken.Token, error) {
	config := s.config
	operation := tokenCreated
	if rotate {
		operation = tokenRotated
	}
	if config.GetAnnotations()[TokenIDAnnotation] == token.ID {
		minted, err := counted(operation)(r.kind.role().CreateWith(ctx, workload, token, r.tokenDescription(config), r.TokenTTL, time.Now()))
		switch {
		case err == nil && minted.Secret != token.Secret:
			return r.extend(ctx, workload, minted, time.Now())
		case !errors.Is(err, jointoken.ErrNotOurs):
			return minted, err
		}
		fresh, err := jointoken.NewToken()
		if err != nil {
			return jointoken.Token{}, err
		}
		token.ID = fresh.ID
	}
	annotations, finalizers := maps.Clone(config.GetAnnotations()), slices.Clone(config.GetFinalizers())
	setAnnotation(config, TokenIDAnnotation, token.ID)
	controllerutil.AddFinalizer(config, r.kind.finalizer())
	if err := s.patcher.recordTokenID(ctx, config); err != nil {
		// Not recorded: the reconcile's closing patch must not record
		// it either, without the lock.
		config.SetAnnotations(annotations)
		config.SetFinalizers(finalizers)
		return jointoken.Token{}, fmt.Errorf("recording the join token ID: %w", err)
	}
	return counted(operation)(r.kind.role().CreateWith(ctx, workload, token, r.tokenDescription(config), r.TokenTTL, time.Now()))
}

// extend extends token when it is due, counting the extensions made.
func (r *configReconciler) extend(ctx context.Context, workload client.Client, token jointoken.Token, now time.Time) (jointoken.Token, error) {
	extended, err := jointoken.Extend(ctx, workload, token, r.extendedLife(), r.machineRefreshBelow(), now)
	if err == nil && !extended.Expiration.Equal(token.Expiration) {
		joinTokenOperations.WithLabelValues(tokenExtended).Inc()
	}
	return extended, err
}

// counted counts a token operation that succeeded.
func counted(operation string) func(jointoken.Token, error) (jointoken.Token, error) {
	return func(token jointoken.Token, err error) (jointoken.Token, error) {
		if err == nil {
			joinTokenOperations.WithLabelValues(operation).Inc()
		}
		return token, err
	}
}

// renderResult names how an attempt to produce data ended, for
// cabpk0s_bootstrap_data_renders_total.
func renderResult(config bootstrapConfig, wrote bool, err error) string {
	switch {
	case wrote:
		return "written"
	case workloadUnreachable(err):
		return bootstrapv1.WorkloadClusterNotReachableReason
	case err != nil:
		return "error"
	}
	if reason := conditions.GetReason(config, bootstrapv1.DataSecretAvailableCondition); reason != "" && reason != bootstrapv1.DataSecretAvailableReason {
		return reason
	}
	return "error"
}

// tokenDescription names the config a join token is for; a token is
// only ever taken for the config its description names.
func (r *configReconciler) tokenDescription(config bootstrapConfig) string {
	return fmt.Sprintf("k0s %s join token for %s %s/%s, managed by cabpk0s", r.kind.role(), r.kind.name(), config.GetNamespace(), config.GetName())
}

// The refresh policy. A pending Machine's token is created with a TTL of
// life and looked at again the moment a quarter of a TTL is left; it is
// then extended to a TTL and a quarter, so the next look, and the next
// write, is one TTL later: one write per pending Machine per TTL, and never
// less than a quarter of a TTL left while the manager runs. (Extending at
// every check, as a shorter period would, costs a write per check; the
// quarter is the margin for a late reconcile.) A MachinePool still scaling
// (fewer nodes joined than replicas) is treated the same: its instances are
// booting with the token. Once every instance joined, the pool's data gets
// a new token when half of the old one's life is gone, so an instance
// launched from the pool's data at any moment has at least half a TTL to
// join.
func (r *configReconciler) machineRefreshBelow() time.Duration { return r.TokenTTL / 4 }

// extendedLife is the life an extension gives: the next one falls due one
// TTL later.
func (r *configReconciler) extendedLife() time.Duration {
	return r.TokenTTL + r.machineRefreshBelow()
}

func (r *configReconciler) poolRotateBelow() time.Duration { return r.TokenTTL / 2 }

// poolRotationDue: the pool's token has no more than half a TTL left.
func (r *configReconciler) poolRotationDue(expires, now time.Time) bool {
	return expires.Sub(now) <= r.poolRotateBelow()
}

// requeueForToken schedules the next token check while someone may still
// join with it: for a pool, the moment its rotation falls due.
func (r *configReconciler) requeueForToken(s *scope, token jointoken.Token) ctrl.Result {
	if s.owner.hasJoined() || s.config.GetAnnotations()[TokenIDAnnotation] == "" {
		return ctrl.Result{}
	}
	below := r.machineRefreshBelow()
	if s.owner.rotates() {
		below = r.poolRotateBelow()
	}
	// An overdue refresh is retried soon, never at once in a hot loop.
	after := max(time.Until(token.Expiration)-below, time.Second)
	if recheck := r.kind.recheck(); recheck > 0 && !s.owner.isPool() {
		after = min(after, recheck)
	}
	return ctrl.Result{RequeueAfter: after, Priority: ptr.To(tokenCheckPriority)}
}

// tokenCheckPriority puts a token that falls due ahead of the configs
// waiting in the queue (priority 0; the initial list's are lower): behind
// a backlog of new configs longer than the quarter-TTL margin, a pending
// Machine's token would expire. The benchmark's 10,000 configs written in
// 30 s let 194 of 10,000 tokens with a 2-minute TTL expire so. Token checks
// are one per pending Machine per TTL, and every other requeue goes back at
// the normal priority (withNormalPriority): they cannot starve the rest.
const tokenCheckPriority = 10

// reconcileToken looks after the token of data already written.
func (r *configReconciler) reconcileToken(ctx context.Context, s *scope) (ctrl.Result, error) {
	config, owner := s.config, s.owner
	id := config.GetAnnotations()[TokenIDAnnotation]
	if id != "" && config.GetAnnotations()[K0smotronTokenIDAnnotation] != "" {
		// A pool's replacement of k0smotron's token that stopped after the
		// new token was recorded: the new one is the data's now.
		r.dropK0smotronToken(config, adoptedReplaced)
	}
	if id == "" {
		if adopted := config.GetAnnotations()[K0smotronTokenIDAnnotation]; adopted != "" {
			return r.reconcileK0smotronToken(ctx, s, adopted)
		}
		// Revoked after the join, or status rebuilt without a live token.
		markAvailable(config)
		return ctrl.Result{}, nil
	}
	workload, err := r.workloadClient(ctx, s.cluster)
	if err != nil {
		return ctrl.Result{}, err
	}

	joined := owner.hasJoined()
	if !joined && !owner.isPool() {
		if joined, err = r.kind.joined(ctx, r, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	if joined {
		if err := jointoken.Delete(ctx, workload, id); err != nil {
			return ctrl.Result{}, err
		}
		joinTokenOperations.WithLabelValues(tokenRevoked).Inc()
		r.forget(config)
		dropTokenID(config, r.kind.finalizer())
		markAvailable(config)
		r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRevoked", "Revoke", "%s joined: revoked join token %s", r.joinedWhat(s), id)
		return ctrl.Result{}, nil
	}

	// The data must carry the token the config keeps alive.
	dataID, err := r.dataTokenID(ctx, config)
	if err != nil {
		return ctrl.Result{}, err
	}
	if dataID != id {
		return r.generate(ctx, s, false)
	}

	// A token this process issued or checked recently needs no look: the
	// requeue comes back before it needs a refresh.
	now := time.Now()
	if known, ok := r.tokens.get(config.GetUID()); ok && known.id == id {
		if owner.rotates() && !r.poolRotationDue(known.expires, now) ||
			!owner.rotates() && known.expires.Sub(now) >= r.machineRefreshBelow() {
			markAvailable(config)
			return r.requeueForToken(s, jointoken.Token{ID: id, Expiration: known.expires}), nil
		}
	}

	token, err := r.lookupToken(ctx, s.cluster, workload, id)
	switch {
	case apierrors.IsNotFound(err) && owner.isPool():
		return r.generate(ctx, s, true)
	case apierrors.IsNotFound(err):
		return r.recoverToken(ctx, s)
	case err != nil:
		return ctrl.Result{}, err
	}

	if owner.rotates() {
		if r.poolRotationDue(token.Expiration, now) {
			return r.generate(ctx, s, true)
		}
	} else if token, err = r.extend(ctx, workload, token, now); err != nil {
		return ctrl.Result{}, err
	}
	r.tokens.set(config.GetUID(), knownToken{id: token.ID, expires: token.Expiration})
	markAvailable(config)
	return r.requeueForToken(s, token), nil
}

// recoverToken handles a Machine's token that no longer exists: a manager
// outage, a long pause or a slow move outlasted it and the workload's token
// cleaner deleted it. While the Machine's infrastructure is not provisioned
// nothing can have booted with the data, so the very token the data
// carries is created again. Afterwards a machine may be booting with it,
// and a token brought back to life is not handed to a machine that is
// already running: the condition says so, and replacing the Machine is
// the way out.
func (r *configReconciler) recoverToken(ctx context.Context, s *scope) (ctrl.Result, error) {
	config, machine := s.config, s.owner.machine
	id := config.GetAnnotations()[TokenIDAnnotation]
	if ptr.Deref(machine.Status.Initialization.InfrastructureProvisioned, false) {
		if conditions.GetReason(config, bootstrapv1.DataSecretAvailableCondition) != bootstrapv1.JoinTokenMissingReason {
			r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, bootstrapv1.JoinTokenMissingReason, "Refresh",
				"Join token %s no longer exists in the workload cluster and Machine %s may already have booted with it", id, machine.Name)
		}
		setWaiting(config, bootstrapv1.JoinTokenMissingReason,
			"Join token %s expired before Machine %s joined, and its infrastructure is provisioned: the machine cannot join with its data; delete the Machine to replace it", id, machine.Name)
		return ctrl.Result{}, nil
	}
	token, err := r.tokenInData(ctx, config)
	if err != nil {
		return ctrl.Result{}, err
	}
	if token.ID != id {
		// The data carries another token than the config records: write
		// the data again, with the config's (created anew).
		return r.generate(ctx, s, false)
	}
	// A token of that ID that exists after all is read back live.
	workload, err := r.workloadLive(ctx, s.cluster)
	if err != nil {
		return ctrl.Result{}, err
	}
	token, err = counted(tokenRecreated)(r.kind.role().CreateWith(ctx, workload, token, r.tokenDescription(config), r.TokenTTL, time.Now()))
	if err != nil {
		return ctrl.Result{}, err
	}
	r.tokens.set(config.GetUID(), knownToken{id: token.ID, expires: token.Expiration})
	r.Recorder.Eventf(config, nil, corev1.EventTypeNormal, "JoinTokenRecreated", "Refresh",
		"Join token %s had expired before Machine %s was provisioned: created it again, as its data carries it", id, machine.Name)
	markAvailable(config)
	return r.requeueForToken(s, token), nil
}

// What tokenInData finds wrong with data: it writes no join token (a
// first controller's), or it cannot be read back.
var (
	errNoJoinTokenFile = errors.New("the data writes no join token file")
	errUnreadableData  = errors.New("unreadable bootstrap data")
)

// tokenInData reads the bootstrap token the config's data Secret carries.
// The Secret's data is not cached, so this is a live read, made only on
// the rare path where the token was lost.
func (r *configReconciler) tokenInData(ctx context.Context, config bootstrapConfig) (jointoken.Token, error) {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: config.GetNamespace(), Name: ptr.Deref(config.GetDataSecretName(), config.GetName())}
	if err := r.Client.Get(ctx, key, secret); err != nil {
		return jointoken.Token{}, err
	}
	decoded, err := render.Decode(secret.Data["value"], render.Format(secret.Data["format"]))
	if err != nil {
		return jointoken.Token{}, fmt.Errorf("reading data Secret %s back: %w: %w", key.Name, errUnreadableData, err)
	}
	file, ok := decoded.File(render.TokenPath(config.GetInstallSpec().WorkingDir))
	if !ok {
		return jointoken.Token{}, fmt.Errorf("data Secret %s: %w", key.Name, errNoJoinTokenFile)
	}
	token, err := r.kind.role().FromJoinToken(strings.TrimSpace(string(file.Content)))
	if err != nil {
		return jointoken.Token{}, fmt.Errorf("data Secret %s: %w: %w", key.Name, errUnreadableData, err)
	}
	return token, nil
}

// missingInput reports what the config waits for, and looks again after
// retry (0: when a watch says it appeared).
func (r *configReconciler) missingInput(config bootstrapConfig, reason string, err error, retry time.Duration) (ctrl.Result, error) {
	var missing *bootstrapinput.MissingSourceError
	if !errors.As(err, &missing) {
		return ctrl.Result{}, err
	}
	setWaiting(config, reason, "Waiting for %s", missing.What)
	return ctrl.Result{RequeueAfter: retry}, nil
}

// cacheBehindOwnWrite is true while the cached config is older than the
// status this process wrote for it: a reconcile on it would write the data
// a second time.
func (r *configReconciler) cacheBehindOwnWrite(config bootstrapConfig) bool {
	w, ok := r.writes.get(config.GetUID())
	return ok && olderThan(config.GetResourceVersion(), w.statusVersion)
}

// markWritten records the version of the status this process just wrote.
func (r *configReconciler) markWritten(config bootstrapConfig) {
	w, _ := r.writes.get(config.GetUID())
	w.statusVersion = config.GetResourceVersion()
	r.writes.set(config.GetUID(), w)
}

// forget drops what this process remembers of a config whose token is gone.
func (r *configReconciler) forget(config bootstrapConfig) {
	r.tokens.delete(config.GetUID())
	r.writes.delete(config.GetUID())
	r.adopted.delete(config.GetUID())
}

// dropTokenID forgets the config's token ID: revoked, or an ID reserved
// for a token its data never carries. The finalizer stays for an adopted
// k0smotron token.
func dropTokenID(config bootstrapConfig, finalizer string) {
	deleteAnnotation(config, TokenIDAnnotation)
	if config.GetAnnotations()[K0smotronTokenIDAnnotation] == "" {
		controllerutil.RemoveFinalizer(config, finalizer)
	}
}

// standInToken has a real token's shape and no life anywhere: it renders
// data whose size and syntax are the real data's, to check them.
func standInToken() jointoken.Token {
	return jointoken.Token{ID: "000000", Secret: "0000000000000000", Expiration: time.Unix(0, 0).UTC()}
}

package faults

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
)

// The invariants must be able to fail: each test breaks one on purpose,
// on a state written by hand, and expects its row to say so.

func pendingState(tokenExpires time.Time) state {
	owner := []metav1.OwnerReference{{Kind: "Machine", Name: "m1"}}
	return state{
		machines: map[string]clusterv1.Machine{"m1": {
			ObjectMeta: metav1.ObjectMeta{Name: "m1"},
			Spec:       clusterv1.MachineSpec{Bootstrap: clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{Name: "m1"}}},
		}},
		configs: map[string]bootstrapv1.K0sWorkerConfig{"m1": {
			ObjectMeta: metav1.ObjectMeta{Name: "m1", UID: "uid-m1", OwnerReferences: owner, Annotations: map[string]string{controllers.TokenIDAnnotation: "abcdef"}},
			Status:     bootstrapv1.K0sWorkerConfigStatus{Initialization: bootstrapv1.K0sWorkerConfigInitializationStatus{DataSecretCreated: ptr.To(true)}},
		}},
		dataSecrets: map[string]corev1.Secret{"m1": {ObjectMeta: metav1.ObjectMeta{Name: "m1", Annotations: map[string]string{controllers.TokenIDAnnotation: "abcdef"}}}},
		tokens: map[string]corev1.Secret{"abcdef": {Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:          []byte("abcdef"),
			bootstrapapi.BootstrapTokenExpirationKey:  []byte(tokenExpires.UTC().Format(time.RFC3339)),
			bootstrapapi.BootstrapTokenDescriptionKey: []byte(tokenDescriptionPrefix + "m1, managed by cabpk0s"),
		}}},
	}
}

func TestDeadTokenDataFindsMissingAndExpiredTokens(t *testing.T) {
	now := time.Now()
	if got := deadTokenData(pendingState(now.Add(time.Minute)), seen{}, now); len(got) != 0 {
		t.Fatalf("a live token is not dead: %v", got)
	}
	if got := deadTokenData(pendingState(now.Add(-time.Minute)), seen{}, now); len(got) != 1 || !strings.Contains(got[0], "expired") {
		t.Fatalf("an expired token must be reported: %v", got)
	}
	gone := pendingState(now.Add(time.Minute))
	delete(gone.tokens, "abcdef")
	if got := deadTokenData(gone, seen{}, now); len(got) != 1 || !strings.Contains(got[0], "does not exist") {
		t.Fatalf("a revoked token must be reported: %v", got)
	}
	if got := deadTokenData(gone, seen{lostToken: map[types.UID]metav1.OwnerReference{"uid-m1": {Kind: "Machine", Name: "m1"}}}, now); len(got) != 0 {
		t.Fatalf("a config that reports its token lost is not counted: %v", got)
	}
}

func rowNamed(t *testing.T, rows []invariant, prefix string) invariant {
	t.Helper()
	for _, r := range rows {
		if strings.HasPrefix(r.name, prefix) {
			return r
		}
	}
	t.Fatalf("no invariant %q", prefix)
	return invariant{}
}

func TestInvariantsFailWhenBroken(t *testing.T) {
	now := time.Now()
	boots := func(*clusterv1.Machine) bool { return true }
	healthy := runFacts{
		final: pendingState(now.Add(time.Minute)),
		seen: seen{
			configTokens: map[types.UID]map[string]bool{"uid-m1": {"abcdef": true}}, configs: map[types.UID]seenConfig{"uid-m1": {name: "m1", created: now.Add(-time.Hour)}},
			tokenOwner: map[string]string{"abcdef": "m1"}, tokenSecrets: map[string]string{"abcdef": "0123456789abcdef"},
		},
		creations:  map[string]tokenCreated{"abcdef": {times: 1, first: now.Add(-time.Hour)}},
		shouldBoot: boots,
	}
	joined := healthy.final.machines["m1"]
	joined.Status.NodeRef = clusterv1.MachineNodeReference{Name: "m1"}
	healthy.final.machines["m1"] = joined
	delete(healthy.final.tokens, "abcdef")
	for _, r := range invariants(healthy) {
		if !r.ok {
			t.Fatalf("a healthy run fails %q: %s %v", r.name, r.got, r.detail)
		}
	}

	notJoined := healthy
	notJoined.final = pendingState(now.Add(time.Minute))
	if r := rowNamed(t, invariants(notJoined), "Machines that should have joined"); r.ok {
		t.Errorf("a Machine that boots and has not joined must fail it: %s", r.got)
	}

	twoTokens := healthy
	twoTokens.creations = map[string]tokenCreated{"abcdef": {times: 1, first: now.Add(-time.Hour)}, "ghijkl": {times: 1, first: now.Add(-time.Minute)}}
	twoTokens.seen.tokenOwner = map[string]string{"abcdef": "m1", "ghijkl": "m1"}
	if r := rowNamed(t, invariants(twoTokens), "join tokens ever minted"); r.ok {
		t.Errorf("two tokens for one config must fail it: %s", r.got)
	}
	// Cluster API's five random characters come back: a later config of
	// the same name, with a token of its own, is another config. Its token
	// is told apart by the config that recorded it and, where the observer
	// missed the annotation, by when it was created.
	reused := twoTokens
	reused.seen.configs = map[types.UID]seenConfig{"uid-m1": {name: "m1", created: now.Add(-time.Hour)}, "uid-m1-again": {name: "m1", created: now.Add(-2 * time.Minute)}}
	reused.seen.configTokens = map[types.UID]map[string]bool{"uid-m1": {"abcdef": true}, "uid-m1-again": {}}
	if r := rowNamed(t, invariants(reused), "join tokens ever minted"); !r.ok {
		t.Errorf("one token each for two configs of one name must pass it: %s %v", r.got, r.detail)
	}
	reused.creations = map[string]tokenCreated{"abcdef": {times: 1, first: now.Add(-time.Hour)}, "ghijkl": {times: 1, first: now.Add(-30 * time.Minute)}}
	if r := rowNamed(t, invariants(reused), "join tokens ever minted"); r.ok {
		t.Errorf("a second token created before the later config existed is the first config's, and must fail it: %s", r.got)
	}
	// An ID reserved at creation and never created (the webhook's, where
	// the data carries another config's or none) is no minted token.
	reserved := healthy
	reserved.seen.configTokens = map[types.UID]map[string]bool{}
	for uid, ids := range healthy.seen.configTokens {
		reserved.seen.configTokens[uid] = maps.Clone(ids)
		reserved.seen.configTokens[uid]["zzzzzz"] = true
	}
	if r := rowNamed(t, invariants(reserved), "join tokens ever minted"); !r.ok {
		t.Errorf("an ID reserved and never created must pass it: %s %v", r.got, r.detail)
	}
	unattributed := healthy
	unattributed.creations = map[string]tokenCreated{"abcdef": {times: 1}, "zzzzzz": {times: 1}}
	if r := rowNamed(t, invariants(unattributed), "join tokens ever minted"); r.ok {
		t.Errorf("a token of no config must fail it: %s", r.got)
	}

	liveAfterJoin := healthy
	liveAfterJoin.final.tokens = pendingState(now.Add(time.Minute)).tokens
	if r := rowNamed(t, invariants(liveAfterJoin), "live tokens"); r.ok {
		t.Errorf("a joined Machine's live token must fail it: %s", r.got)
	}

	stuck := healthy
	stuck.final = pendingState(now.Add(time.Minute))
	stuck.final.configs["m1"] = bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Name: "m1"}}
	if r := rowNamed(t, invariants(stuck), "configs stuck"); r.ok {
		t.Errorf("a config without data or a condition must fail it: %s", r.got)
	}

	log := filepath.Join(t.TempDir(), "replica.log")
	if err := os.WriteFile(log, []byte("I1202 reconciled token=abcdef.0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	leaked := healthy
	leaked.logFiles = []string{log}
	if r := rowNamed(t, invariants(leaked), "credentials"); r.ok {
		t.Errorf("a token secret in a log must fail it: %s", r.got)
	}
	leaked.logFiles, leaked.events = nil, []string{"Failed: GET https://fault-user:" + urlPassword + "@downloads.example.com"}
	if r := rowNamed(t, invariants(leaked), "credentials"); r.ok {
		t.Errorf("a URL password in an event must fail it: %s", r.got)
	}
}

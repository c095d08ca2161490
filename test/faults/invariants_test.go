package faults

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/cluster-api/util/secret"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

// invariant is one row of the report: what was measured, what it must
// be, and whether it is.
type invariant struct {
	name   string
	mustBe string
	got    string
	ok     bool
	// detail names what broke it, for the test's failure message.
	detail []string
}

// state is the management and workload clusters as they are at a check.
type state struct {
	machines    map[string]clusterv1.Machine
	configs     map[string]bootstrapv1.K0sWorkerConfig
	dataSecrets map[string]corev1.Secret
	tokens      map[string]corev1.Secret // by token ID
}

func readState(ctx context.Context, e *environment) (state, error) {
	s := state{machines: map[string]clusterv1.Machine{}, configs: map[string]bootstrapv1.K0sWorkerConfig{}, dataSecrets: map[string]corev1.Secret{}, tokens: map[string]corev1.Secret{}}
	machines := &clusterv1.MachineList{}
	configs := &bootstrapv1.K0sWorkerConfigList{}
	secrets := &corev1.SecretList{}
	tokens := &corev1.SecretList{}
	c := e.management.Client
	if err := c.List(ctx, machines, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	if err := c.List(ctx, configs, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	if err := c.List(ctx, secrets, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	if err := e.workload.Client.List(ctx, tokens, client.InNamespace(metav1.NamespaceSystem)); err != nil {
		return s, err
	}
	for _, m := range machines.Items {
		s.machines[m.Name] = m
	}
	for _, c := range configs.Items {
		s.configs[c.Name] = c
	}
	for _, d := range secrets.Items {
		if d.Type == clusterv1.ClusterSecretType && hasConfigOwner(d) {
			s.dataSecrets[d.Name] = d
		}
	}
	for _, t := range tokens.Items {
		if t.Type == bootstrapapi.SecretTypeBootstrapToken {
			s.tokens[string(t.Data[bootstrapapi.BootstrapTokenIDKey])] = t
		}
	}
	return s, nil
}

func hasConfigOwner(s corev1.Secret) bool {
	for _, ref := range s.OwnerReferences {
		if ref.Kind == "K0sWorkerConfig" {
			return true
		}
	}
	return false
}

// configMachine is the Machine a config belongs to.
func configMachine(c bootstrapv1.K0sWorkerConfig) string {
	for _, ref := range c.OwnerReferences {
		if ref.Kind == "Machine" {
			return ref.Name
		}
	}
	return ""
}

// deadTokenData lists data Secrets whose Machine has not joined and whose
// token does not exist (revoked, or never created) or has expired,
// leaving out configs that report JoinTokenMissing: their token outlived
// an outage, and the condition says so.
func deadTokenData(s state, seen seen, now time.Time) []string {
	var out []string
	for name, d := range s.dataSecrets {
		config, ok := s.configs[name]
		if !ok || !config.DeletionTimestamp.IsZero() {
			continue
		}
		if seen.lost(config.UID) {
			continue
		}
		m, ok := s.machines[configMachine(config)]
		if !ok || m.Status.NodeRef.IsDefined() || !m.DeletionTimestamp.IsZero() {
			continue
		}
		id := d.Annotations[controllers.TokenIDAnnotation]
		token, ok := s.tokens[id]
		if !ok {
			out = append(out, fmt.Sprintf("%s carries token %s, which does not exist", name, id))
			continue
		}
		if exp, err := time.Parse(time.RFC3339, string(token.Data[bootstrapapi.BootstrapTokenExpirationKey])); err == nil && exp.Before(now) {
			out = append(out, fmt.Sprintf("%s carries token %s, expired at %s", name, id, exp))
		}
	}
	sort.Strings(out)
	return out
}

// tokenCreated is how often cabpk0s created a token under one ID, and
// when first.
type tokenCreated struct {
	times int
	first time.Time
}

// tokenConfig is the config a token belongs to: the one that recorded its
// ID (cabpk0s records the ID before it creates the token), or, when the
// observer missed that annotation (an informer relists after the API
// server restarts and skips what came and went), the config its
// description names that existed when the token was first created: of
// the configs of that name, the latest created before it.
func (s seen) tokenConfig(id string, created time.Time) (types.UID, bool) {
	for config, ids := range s.configTokens {
		if ids[id] {
			return config, true
		}
	}
	name, ok := s.tokenOwner[id]
	if !ok {
		return "", false
	}
	var best types.UID
	var bestCreated time.Time
	for uid, c := range s.configs {
		if c.name != name || (!created.IsZero() && c.created.After(created)) {
			continue
		}
		if best == "" || c.created.After(bestCreated) {
			best, bestCreated = uid, c.created
		}
	}
	return best, best != ""
}

// runFacts is everything the invariants are computed from.
type runFacts struct {
	final      state
	seen       seen
	deadData   []string                // from every check during the run and the final one
	creations  map[string]tokenCreated // by token ID, those cabpk0s made
	logFiles   []string
	events     []string
	caKey      []byte
	shouldBoot func(*clusterv1.Machine) bool
}

func invariants(f runFacts) []invariant {
	var rows []invariant

	// Machines that should have joined and did.
	var should, did int
	var notJoined []string
	for name, m := range f.final.machines {
		if !m.DeletionTimestamp.IsZero() || !f.shouldBoot(&m) {
			continue
		}
		config := f.final.configs[m.Spec.Bootstrap.ConfigRef.Name]
		if f.seen.lost(config.UID) {
			continue
		}
		should++
		if m.Status.NodeRef.IsDefined() {
			did++
		} else {
			notJoined = append(notJoined, name)
		}
	}
	joinedEver := len(f.seen.joined)
	rows = append(rows, invariant{
		name: "Machines that should have joined and did", mustBe: "all",
		got: fmt.Sprintf("%d of %d (%d joined over the run)", did, should, joinedEver), ok: did == should && should > 0, detail: notJoined,
	})

	// Join tokens ever minted per config: the tokens the workload cluster
	// saw created. An ID a config named is not one by itself: the webhook
	// reserves an ID for every config created, and a reservation its data
	// never carries (a config clusterctl move created for a Machine that
	// had joined, whose original dropped its ID) is never minted.
	minted := map[types.UID]map[string]bool{}
	var unattributed []string
	recreated := 0
	for id, c := range f.creations {
		recreated += c.times - 1
		config, ok := f.seen.tokenConfig(id, c.first)
		if !ok {
			unattributed = append(unattributed, id)
			continue
		}
		if minted[config] == nil {
			minted[config] = map[string]bool{}
		}
		minted[config][id] = true
	}
	most, withTokens := 0, 0
	var many []string
	for config, ids := range minted {
		if len(ids) > 0 {
			withTokens++
		}
		most = max(most, len(ids))
		if len(ids) > 1 {
			many = append(many, fmt.Sprintf("%s (%s): %v", f.seen.configs[config].name, config, keys(ids)))
		}
	}
	rows = append(rows, invariant{
		name: "join tokens ever minted per config", mustBe: "1",
		got: fmt.Sprintf("at most %d, over %d configs (%d created, %d of them the same token re-created; %d unattributed)", most, withTokens, len(f.creations)+recreated, recreated, len(unattributed)),
		ok:  most == 1 && len(unattributed) == 0, detail: append(many, unattributed...),
	})

	// Live tokens of joined or deleted Machines.
	var stale []string
	for id, t := range f.final.tokens {
		config, ok := f.seen.tokenConfig(id, f.creations[id].first)
		if !ok {
			continue
		}
		name := f.seen.configs[config].name
		c, exists := f.final.configs[name]
		exists = exists && f.seen.canonical(c.UID) == config
		m, machineExists := f.final.machines[configMachine(c)]
		if !exists || !machineExists || m.Status.NodeRef.IsDefined() {
			stale = append(stale, fmt.Sprintf("%s of %s (expires %s)", id, name, t.Data[bootstrapapi.BootstrapTokenExpirationKey]))
		}
	}
	rows = append(rows, invariant{
		name: "live tokens of joined or deleted Machines after the run", mustBe: "0",
		got: fmt.Sprint(len(stale)), ok: len(stale) == 0, detail: stale,
	})

	rows = append(rows, invariant{
		name: "data Secrets whose token was revoked or never existed while their Machine had not joined", mustBe: "0",
		got: fmt.Sprintf("%d (checked at every phase and at the end; %d configs reported their token lost to the outage and were replaced)", len(f.deadData), len(f.seen.lostToken)),
		ok:  len(f.deadData) == 0, detail: f.deadData,
	})

	// Configs stuck without a condition that says why.
	var stuck []string
	for name, c := range f.final.configs {
		if ptr.Deref(c.Status.Initialization.DataSecretCreated, false) || !c.DeletionTimestamp.IsZero() {
			continue
		}
		ready := conditions.Get(&c, bootstrapv1.ReadyCondition)
		if ready == nil || ready.Status != metav1.ConditionFalse || ready.Message == "" {
			stuck = append(stuck, name)
		}
	}
	rows = append(rows, invariant{
		name: "configs stuck without a condition that says why", mustBe: "0",
		got: fmt.Sprintf("%d of %d", len(stuck), len(f.final.configs)), ok: len(stuck) == 0, detail: stuck,
	})

	// Credentials in logs, events, conditions.
	leaks := credentialLeaks(f)
	rows = append(rows, invariant{
		name: "credentials (token secret half, bootstrap data, CA key, URL credentials) in logs, events, conditions", mustBe: "0",
		got: fmt.Sprintf("%d (%d token secrets looked for in %d log files, %d events, %d configs' conditions)", len(leaks), len(f.seen.tokenSecrets), len(f.logFiles), len(f.events), len(f.final.configs)),
		ok:  len(leaks) == 0, detail: leaks,
	})
	return rows
}

// credentialLeaks looks for every credential of the run in the replicas'
// logs, the management cluster's events and the configs' conditions.
func credentialLeaks(f runFacts) []string {
	needles := map[string]string{"URL password": urlPassword}
	for id, s := range f.seen.tokenSecrets {
		if s != "" {
			needles["secret of token "+id] = s
		}
	}
	// A line of the CA key's PEM body stands for the key.
	for _, line := range strings.Split(string(f.caKey), "\n") {
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			needles["cluster CA key"] = line
			break
		}
	}
	// The k0s join token each data Secret carries (the token's
	// kubeconfig, compressed and encoded) stands for the data.
	for name, d := range f.final.dataSecrets {
		decoded, err := render.Decode(d.Data["value"], render.Format(d.Data["format"]))
		if err != nil {
			continue
		}
		if file, ok := decoded.File(render.TokenPath(f.final.configs[name].Spec.WorkingDir)); ok {
			needles["join token in the data of "+name] = strings.TrimSpace(string(file.Content))
		}
	}
	haystacks := map[string]string{}
	for _, path := range f.logFiles {
		data, err := os.ReadFile(path)
		if err == nil {
			haystacks["log "+path] = string(data)
		}
	}
	haystacks["events"] = strings.Join(f.events, "\n")
	var conds []string
	for _, c := range f.final.configs {
		for _, cond := range c.Status.Conditions {
			conds = append(conds, cond.Message)
		}
	}
	haystacks["conditions"] = strings.Join(conds, "\n")
	var leaks []string
	for what, needle := range needles {
		for where, hay := range haystacks {
			if strings.Contains(hay, needle) {
				leaks = append(leaks, what+" in "+where)
			}
		}
	}
	sort.Strings(leaks)
	return leaks
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// events are the messages of every event in the management cluster.
func events(ctx context.Context, e *environment) ([]string, error) {
	list := &corev1.EventList{}
	if err := e.management.Client.List(ctx, list); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list.Items))
	for _, ev := range list.Items {
		out = append(out, ev.Reason+": "+ev.Message)
	}
	return out, nil
}

// caKey is the workload cluster CA's private key, as the Cluster's CA
// Secret holds it.
func caKey(ctx context.Context, e *environment) ([]byte, error) {
	s := &corev1.Secret{}
	if err := e.management.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secret.Name(clusterName, secret.ClusterCA)}, s); err != nil {
		return nil, err
	}
	return s.Data[secret.TLSKeyDataName], nil
}

// table renders rows as Markdown.
func table(rows []invariant) string {
	var b strings.Builder
	b.WriteString("| invariant | must be | this run | |\n|---|---|---|---|\n")
	for _, r := range rows {
		mark := "ok"
		if !r.ok {
			mark = "**FAILED**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.name, r.mustBe, r.got, mark)
	}
	return b.String()
}

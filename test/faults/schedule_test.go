package faults

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mathrand "math/rand"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/failpoint"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// fault is one kind of thing the scheduler does to a run.
type fault string

const (
	killReplica        fault = "SIGKILL a replica"
	killLeader         fault = "SIGKILL the leader"
	killAfterToken     fault = "SIGKILL between token creation and data write (failpoint)"
	killAfterData      fault = "SIGKILL between data write and status patch (failpoint)"
	leaseLost          fault = "lease taken from the leader mid-reconcile"
	managementRestart  fault = "management API server restarted"
	workloadOutage     fault = "workload API server down longer than the token TTL"
	conflictsAndErrors fault = "409s and 500s on config writes (fault proxy)"
	pauseCluster       fault = "Cluster paused, then unpaused"
	badInput           fault = "bad input (oversized data, missing source, credentials in a URL), then fixed"
)

// faultOrder is the order faults are listed in the report.
var faultOrder = []fault{killReplica, killLeader, killAfterToken, killAfterData, leaseLost, managementRestart, workloadOutage, conflictsAndErrors, pauseCluster, badInput}

// deck is one run's faults, shuffled by the seed: enough kills that at
// least 20 processes die by SIGKILL, and every other fault at least once.
func deck(rng *mathrand.Rand) []fault {
	counts := map[fault]int{
		killReplica: 15, killLeader: 5, killAfterToken: 3, killAfterData: 2, leaseLost: 2,
		managementRestart: 1, workloadOutage: 1, conflictsAndErrors: 2, pauseCluster: 2, badInput: 1,
	}
	var d []fault
	for _, f := range faultOrder {
		for range counts[f] {
			d = append(d, f)
		}
	}
	rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
}

// scheduler deals a deck of faults at seeded random intervals while the
// scenario runs. Faults that last (an outage, a pause, a fault window)
// run beside the next ones.
type scheduler struct {
	env      *environment
	replicas *replicas
	rng      *mathrand.Rand
	logf     func(format string, args ...any)

	mu    sync.Mutex
	dealt map[fault]int
	errs  []error
	wg    sync.WaitGroup
	// outage serialises the API server faults: one server down at a time
	// keeps each fault's effect its own.
	outage sync.Mutex
	// pausing keeps a Cluster pause and the bad input apart. Cluster API's
	// Machine controller (v1.14) does not wake a Machine when its Cluster
	// is unpaused (its Cluster watch fires only when the control plane
	// becomes initialized): a standalone Machine whose every event fell in
	// a pause, or whose config got its data while that controller still saw
	// the pause, waits for the controller's resync (10 minutes in Cluster
	// API's deployment, never in this process) before it takes its data
	// Secret's name. cabpk0s's own side of an unpause (the config is woken
	// and gets its data) is TestPausedClusterGetsNoDataUntilUnpaused's.
	// MachineDeployment Machines are woken by their MachineSet's updates.
	pausing sync.Mutex
}

func newScheduler(env *environment, rs *replicas, seed int64, logf func(string, ...any)) *scheduler {
	return &scheduler{env: env, replicas: rs, rng: mathrand.New(mathrand.NewSource(seed)), logf: logf, dealt: map[fault]int{}} //nolint:gosec // seeded, so a failure replays
}

// parts shuffles the deck and splits it in n, one part per phase of the
// scenario, so every phase is scaled through faults.
func (s *scheduler) parts(n int) [][]fault {
	d := deck(s.rng)
	out := make([][]fault, n)
	for i, f := range d {
		out[i*n/len(d)] = append(out[i*n/len(d)], f)
	}
	return out
}

// run deals faults, then waits for the lasting ones to end.
func (s *scheduler) run(ctx context.Context, faults []fault) {
	for _, f := range faults {
		pause := time.Duration(2000+s.rng.Intn(4000)) * time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		s.deal(ctx, f)
	}
	s.wg.Wait()
}

func (s *scheduler) deal(ctx context.Context, f fault) {
	s.mu.Lock()
	s.dealt[f]++
	s.mu.Unlock()
	s.logf("fault: %s", f)
	switch f {
	case killReplica:
		s.replicas.kill(s.replicas.list[s.rng.Intn(len(s.replicas.list))])
	case killLeader:
		if leader := s.replicas.leader(ctx); leader != nil {
			s.replicas.kill(leader)
		} else {
			s.replicas.kill(s.replicas.list[s.rng.Intn(len(s.replicas.list))])
		}
	case killAfterToken:
		s.record(s.replicas.armFailpoint(failpoint.JoinTokenCreated))
	case killAfterData:
		s.record(s.replicas.armFailpoint(failpoint.DataSecretWritten))
	case leaseLost:
		s.record(s.takeLease(ctx))
	case managementRestart:
		down := time.Duration(2000+s.rng.Intn(4000)) * time.Millisecond
		s.lasting(func() error {
			s.outage.Lock()
			defer s.outage.Unlock()
			if err := s.env.management.StopAPIServer(); err != nil {
				return fmt.Errorf("stopping the management API server: %w", err)
			}
			time.Sleep(down)
			return s.env.management.StartAPIServer()
		})
	case workloadOutage:
		s.lasting(func() error {
			s.outage.Lock()
			defer s.outage.Unlock()
			if err := s.env.workload.StopAPIServer(); err != nil {
				return fmt.Errorf("stopping the workload API server: %w", err)
			}
			time.Sleep(tokenTTL + 10*time.Second)
			return s.env.workload.StartAPIServer()
		})
	case conflictsAndErrors:
		s.lasting(func() error {
			s.env.proxy.setFailRate(0.3)
			time.Sleep(15 * time.Second)
			s.env.proxy.setFailRate(0)
			return nil
		})
	case pauseCluster:
		s.lasting(func() error {
			s.pausing.Lock()
			defer s.pausing.Unlock()
			if err := retry(ctx, func() error { return s.env.setPaused(ctx, true) }); err != nil {
				return err
			}
			time.Sleep(8 * time.Second)
			return retry(ctx, func() error { return s.env.setPaused(ctx, false) })
		})
	case badInput:
		s.lasting(func() error { return s.badInput(ctx) })
	}
}

func (s *scheduler) lasting(fn func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.record(fn())
	}()
}

func (s *scheduler) record(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *scheduler) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

func (s *scheduler) count(f fault) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dealt[f]
}

// takeLease makes the leader lose its lease mid-reconcile: another holder
// is written into it, so the leader's next renewal fails and it stops
// (controller-runtime exits on a lost lease); its supervisor starts it
// again, and a replica takes the lease once the intruder's term ends.
func (s *scheduler) takeLease(ctx context.Context) error {
	return retry(ctx, func() error {
		lease := &coordinationv1.Lease{}
		if err := s.env.management.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "cabpk0s-manager-leader-election"}, lease); err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.HolderIdentity = ptr.To("fault-injector")
		lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
		return s.env.management.Client.Update(ctx, lease)
	})
}

// retry runs fn until it succeeds, for up to a minute: the API servers
// may be down for a fault of their own.
func retry(ctx context.Context, fn func() error) error {
	return retryFor(ctx, time.Minute, fn)
}

// retryFor calls fn each second until it succeeds or d has passed.
func retryFor(ctx context.Context, d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// The bad input: standalone Machines whose configs cannot be rendered
// until the harness fixes them, as a user would after reading the
// condition.
const (
	badInputPrefix = "bad-"
	// urlPassword is in a downloadURL: it must never be seen again.
	urlPassword = "Sup3r-s3cret-fault-pass"
	sourceChunk = 500 * 1024
)

type badConfig struct {
	name string
	spec bootstrapv1.K0sWorkerConfigSpec
	// sources are the Secrets the config reads; created by fix, or
	// created too large and made small by fix.
	sources []string
	// broken says whether the config's condition explains what is wrong.
	broken func(*bootstrapv1.K0sWorkerConfig) bool
}

func badConfigs() []badConfig {
	file := func(path, source string) bootstrapv1.File {
		return bootstrapv1.File{Path: path, ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: source, Key: "content"}}}
	}
	waitingForSource := func(c *bootstrapv1.K0sWorkerConfig) bool {
		return conditions.GetReason(c, bootstrapv1.DataSecretAvailableCondition) == bootstrapv1.MissingFileSourceReason
	}
	return []badConfig{
		{
			name:    badInputPrefix + "missing-source",
			spec:    bootstrapv1.K0sWorkerConfigSpec{K0sInstallSpec: bootstrapv1.K0sInstallSpec{Files: []bootstrapv1.File{file("/etc/faults/app.conf", "bad-app-conf")}}},
			sources: []string{"bad-app-conf"},
			broken:  waitingForSource,
		},
		{
			name: badInputPrefix + "credentials-in-url",
			spec: bootstrapv1.K0sWorkerConfigSpec{
				K0sInstallSpec: bootstrapv1.K0sInstallSpec{
					DownloadURL: "https://fault-user:" + urlPassword + "@downloads.example.com/k0s/" + k0sVersion + "/k0s-" + k0sVersion + "-amd64",
					Files:       []bootstrapv1.File{file("/etc/faults/url.conf", "bad-url-conf")},
				},
			},
			sources: []string{"bad-url-conf"},
			broken:  waitingForSource,
		},
		{
			name: badInputPrefix + "oversized",
			spec: bootstrapv1.K0sWorkerConfigSpec{
				K0sInstallSpec: bootstrapv1.K0sInstallSpec{
					Files: []bootstrapv1.File{
						file("/etc/faults/big-0", "bad-big-0"), file("/etc/faults/big-1", "bad-big-1"), file("/etc/faults/big-2", "bad-big-2"),
					},
				},
			},
			sources: []string{"bad-big-0", "bad-big-1", "bad-big-2"},
			broken: func(c *bootstrapv1.K0sWorkerConfig) bool {
				return strings.Contains(conditions.GetMessage(c, bootstrapv1.DataSecretAvailableCondition), "more than a Secret holds")
			},
		},
	}
}

// badInput creates the bad configs, waits until each says what is wrong,
// then fixes them: the missing Secrets are created, the oversized sources
// made small, and waits until Cluster API has given each Machine its data
// Secret. The final settle checks that their Machines join.
func (s *scheduler) badInput(ctx context.Context) error {
	s.pausing.Lock()
	defer s.pausing.Unlock()
	c := s.env.management.Client
	for _, b := range badConfigs() {
		if b.name == badInputPrefix+"oversized" {
			for _, src := range b.sources {
				if err := retry(ctx, func() error { return createSource(ctx, c, src, randomText(sourceChunk)) }); err != nil {
					return err
				}
			}
		}
		if err := retry(ctx, func() error { return createStandaloneMachine(ctx, c, b) }); err != nil {
			return fmt.Errorf("creating %s: %w", b.name, err)
		}
	}
	for _, b := range badConfigs() {
		err := retry(ctx, func() error {
			config := &bootstrapv1.K0sWorkerConfig{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: b.name}, config); err != nil {
				return err
			}
			if !b.broken(config) {
				return fmt.Errorf("config %s does not say what is wrong: %v", b.name, config.Status.Conditions)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	time.Sleep(5 * time.Second)
	for _, b := range badConfigs() {
		for i, src := range b.sources {
			content := "fixed\n"
			if b.name == badInputPrefix+"oversized" && i > 0 {
				// Two small, one large: the data fits now.
				content = "small\n"
			} else if b.name == badInputPrefix+"oversized" {
				continue
			}
			if err := retry(ctx, func() error { return upsertSource(ctx, c, src, content) }); err != nil {
				return err
			}
		}
	}
	for _, b := range badConfigs() {
		err := retryFor(ctx, 3*time.Minute, func() error {
			m := &clusterv1.Machine{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: b.name}, m); err != nil {
				return err
			}
			if m.Spec.Bootstrap.DataSecretName == nil {
				return fmt.Errorf("machine %s has no data Secret 3 minutes after its config was fixed", b.name)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func randomText(n int) string {
	raw := make([]byte, n*3/4)
	_, _ = rand.Read(raw)
	return base64.StdEncoding.EncodeToString(raw)
}

func createSource(ctx context.Context, c client.Client, name, content string) error {
	err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: map[string]string{"content": content}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func upsertSource(ctx context.Context, c client.Client, name, content string) error {
	s := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return createSource(ctx, c, name, content)
	}
	if err != nil {
		return err
	}
	s.Data = map[string][]byte{"content": []byte(content)}
	return c.Update(ctx, s)
}

// createStandaloneMachine creates a Machine, its AWSMachine and its
// K0sWorkerConfig, as a user writes a single worker.
func createStandaloneMachine(ctx context.Context, c client.Client, b badConfig) error {
	config := &bootstrapv1.K0sWorkerConfig{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: b.name}, Spec: b.spec}
	if err := c.Create(ctx, config); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	infra := &unstructured.Unstructured{}
	infra.SetGroupVersionKind(testenv.AWSMachineGVK)
	infra.SetNamespace(namespace)
	infra.SetName(b.name)
	infra.Object["spec"] = map[string]any{"instanceType": "t3.medium"}
	if err := c.Create(ctx, infra); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	machine := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: b.name, Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Spec: clusterv1.MachineSpec{
			ClusterName: clusterName,
			Version:     machineVersion,
			Bootstrap: clusterv1.Bootstrap{ConfigRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: bootstrapv1.GroupVersion.Group, Kind: "K0sWorkerConfig", Name: b.name,
			}},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: testenv.AWSMachineGVK.Group, Kind: testenv.AWSMachineGVK.Kind, Name: b.name,
			},
		},
	}
	if err := c.Create(ctx, machine); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

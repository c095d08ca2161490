package faults

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/controllers"
)

// observer watches the run from outside, as the invariants need it: every
// token ID each config recorded, every token the workload cluster held
// (whose config it names, its secret half for the credential scan), the
// configs that reported their token lost, the Machines that joined.
// Configs and Machines are told apart by UID: Cluster API names them with
// five random characters, and over a soak's thousands of Machines a name
// comes back after its first owner is gone often enough to matter. It
// also plays MachineHealthCheck: a Machine whose config says its token is
// gone and it cannot join is deleted, as the condition tells a user to.
type observer struct {
	env *environment

	mu           sync.Mutex
	configTokens map[types.UID]map[string]bool
	configs      map[types.UID]seenConfig
	tokenOwner   map[string]string // token ID -> the config name its description gives
	tokenSecrets map[string]string
	lostToken    map[types.UID]metav1.OwnerReference // config -> its Machine
	remediated   map[types.UID]bool
	joined       map[types.UID]bool
	aliases      map[types.UID]types.UID // UID on the move's target -> UID on its source
}

// seenConfig is what tells a config apart from a later one of its name.
type seenConfig struct {
	name    string
	created time.Time
}

const tokenDescriptionPrefix = "k0s worker join token for K0sWorkerConfig " + namespace + "/"

func observe(ctx context.Context, env *environment) (*observer, error) {
	o := &observer{
		env: env, configTokens: map[types.UID]map[string]bool{}, configs: map[types.UID]seenConfig{}, tokenOwner: map[string]string{},
		tokenSecrets: map[string]string{}, lostToken: map[types.UID]metav1.OwnerReference{}, remediated: map[types.UID]bool{}, joined: map[types.UID]bool{},
		aliases: map[types.UID]types.UID{},
	}
	workload, err := cache.New(env.workload.Config, cache.Options{DefaultNamespaces: map[string]cache.Config{metav1.NamespaceSystem: {}}})
	if err != nil {
		return nil, err
	}
	if err := watch(ctx, workload, handler{&corev1.Secret{}, o.token}); err != nil {
		return nil, err
	}
	if err := o.follow(ctx, env, nil); err != nil {
		return nil, err
	}
	go o.remediate(ctx)
	return o, nil
}

// follow watches env's management cluster from now on, and remediates
// there: after clusterctl move, the target. moved maps the UIDs the
// target gave the objects clusterctl created to their UIDs on the source:
// a config that moved is the same config.
func (o *observer) follow(ctx context.Context, env *environment, moved map[types.UID]types.UID) error {
	o.mu.Lock()
	maps.Copy(o.aliases, moved)
	o.env = env
	o.mu.Unlock()
	management, err := cache.New(env.management.Config, cache.Options{Scheme: env.management.Scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}}})
	if err != nil {
		return err
	}
	return watch(ctx, management, handler{&bootstrapv1.K0sWorkerConfig{}, o.config}, handler{&clusterv1.Machine{}, o.machine})
}

// handler is what the observer does with each version of a kind.
type handler struct {
	obj client.Object
	fn  func(any)
}

// watch starts c with an informer per handler and waits for them to sync.
func watch(ctx context.Context, c cache.Cache, handlers ...handler) error {
	for _, h := range handlers {
		informer, err := c.GetInformer(ctx, h.obj)
		if err != nil {
			return err
		}
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: h.fn, UpdateFunc: func(_, obj any) { h.fn(obj) }}); err != nil {
			return err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return errors.New("the observer's cache did not sync")
	}
	return nil
}

// canonical is the UID an object had where the run first saw it.
func canonical(aliases map[types.UID]types.UID, uid types.UID) types.UID {
	if first, ok := aliases[uid]; ok {
		return first
	}
	return uid
}

func (o *observer) config(obj any) {
	config, ok := obj.(*bootstrapv1.K0sWorkerConfig)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	uid := canonical(o.aliases, config.UID)
	if _, ok := o.configs[uid]; !ok {
		o.configs[uid] = seenConfig{name: config.Name, created: config.CreationTimestamp.Time}
	}
	if o.configTokens[uid] == nil {
		o.configTokens[uid] = map[string]bool{}
	}
	if id := config.Annotations[controllers.TokenIDAnnotation]; id != "" {
		o.configTokens[uid][id] = true
	}
	if conditions.GetReason(config, bootstrapv1.DataSecretAvailableCondition) == bootstrapv1.JoinTokenMissingReason {
		for _, ref := range config.OwnerReferences {
			if ref.Kind == "Machine" {
				o.lostToken[uid] = ref
			}
		}
	}
}

func (o *observer) machine(obj any) {
	m, ok := obj.(*clusterv1.Machine)
	if !ok || !m.Status.NodeRef.IsDefined() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.joined[canonical(o.aliases, m.UID)] = true
}

func (o *observer) token(obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Type != bootstrapapi.SecretTypeBootstrapToken {
		return
	}
	id := string(s.Data[bootstrapapi.BootstrapTokenIDKey])
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokenSecrets[id] = string(s.Data[bootstrapapi.BootstrapTokenSecretKey])
	if name, ok := strings.CutPrefix(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey]), tokenDescriptionPrefix); ok {
		o.tokenOwner[id] = strings.TrimSuffix(name, ", managed by cabpk0s")
	}
}

// remediate deletes the Machines whose config reports JoinTokenMissing,
// as a MachineHealthCheck would once they fail to become nodes; their
// MachineSet replaces them. The bad-input Machines stand alone: nothing
// would replace them, so they are left, and counted as reported.
func (o *observer) remediate(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		o.mu.Lock()
		c := o.env.management.Client
		todo := map[types.UID]metav1.OwnerReference{}
		for config, machine := range o.lostToken {
			if !o.remediated[config] && !strings.HasPrefix(machine.Name, badInputPrefix) {
				todo[config] = machine
				o.remediated[config] = true
			}
		}
		o.mu.Unlock()
		for config, machine := range todo {
			m := &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: machine.Name}}
			// The UID precondition: never a later Machine of the same name.
			err := c.Delete(ctx, m, client.Preconditions{UID: &machine.UID})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				o.mu.Lock()
				delete(o.remediated, config)
				o.mu.Unlock()
			}
		}
	}
}

// snapshot copies what the observer saw.
type seen struct {
	configTokens map[types.UID]map[string]bool
	configs      map[types.UID]seenConfig
	tokenOwner   map[string]string
	tokenSecrets map[string]string
	lostToken    map[types.UID]metav1.OwnerReference
	joined       map[types.UID]bool
	aliases      map[types.UID]types.UID
}

// lost tells whether the config of this UID reported its token lost.
func (s seen) lost(uid types.UID) bool {
	_, ok := s.lostToken[s.canonical(uid)]
	return ok
}

// canonical is the UID under which the observer keeps the object of uid.
func (s seen) canonical(uid types.UID) types.UID { return canonical(s.aliases, uid) }

func (o *observer) seen() seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := seen{
		configTokens: map[types.UID]map[string]bool{}, configs: maps.Clone(o.configs), tokenOwner: maps.Clone(o.tokenOwner),
		tokenSecrets: maps.Clone(o.tokenSecrets), lostToken: maps.Clone(o.lostToken), joined: maps.Clone(o.joined),
		aliases: maps.Clone(o.aliases),
	}
	for k, v := range o.configTokens {
		s.configTokens[k] = maps.Clone(v)
	}
	return s
}
